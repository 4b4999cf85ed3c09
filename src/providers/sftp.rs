//! SFTP uploads: the copy of stored media that seed 004 configured with `STORAGE_FTP_ENABLED` and `FTP_*` (the
//! names are the seed's; the protocol is SFTP over SSH, not FTP).
//!
//! One SSH session carries a batch of files: TCP connect, key exchange, the server's host key checked against
//! `FTP_HOST_KEY_SHA256` and/or the `FTP_KNOWN_HOSTS` file (a key neither trusts is refused, never learned),
//! password login, the `sftp` subsystem. Each file is written to a hidden `.{name}.part` beside its target and
//! renamed into place once the server acknowledged every byte, so a web server publishing the folder never
//! serves half a file; missing folders are created. Connecting through login is bounded by the connect
//! timeout, which is also each SFTP request's and the longest silence allowed from the server; each file by the
//! upload timeout. Failures are typed [`GatewayError`]s naming the server and the remote path, never the
//! password. This module moves files and knows nothing about jobs.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PublicKey};
use russh_sftp::client::SftpSession;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::config::SftpSettings;
use crate::error::{ErrorCode, GatewayError};

/// One file to upload: what the caller's opener reads it from, and where it goes.
#[derive(Debug, Clone)]
pub struct Upload {
    /// Handed to the opener of [`Sftp::upload`] when the file's turn comes (for media: `{project}/{type}/{file}`).
    pub source: String,
    /// `/`-separated, relative to `FTP_BASE_DIR` (`{project}/{type}/{file}`).
    pub remote: String,
}

/// The SFTP server uploads go to.
#[derive(Debug)]
pub struct Sftp {
    settings: SftpSettings,
    ssh: Arc<client::Config>,
}

/// Why an SSH connection did not come up: russh's own errors, or a host key this gateway does not trust.
#[derive(Debug)]
enum SshFailure {
    Ssh(russh::Error),
    HostKey { fingerprint: String, reason: String },
}

impl From<russh::Error> for SshFailure {
    fn from(err: russh::Error) -> Self {
        Self::Ssh(err)
    }
}

/// The russh client handler: decides whether the server's host key is trusted.
struct HostKeyCheck {
    host: String,
    port: u16,
    known_hosts: Option<PathBuf>,
    sha256: Option<[u8; 32]>,
}

impl HostKeyCheck {
    /// `Ok(())` when the key matches the pinned fingerprint or a `known_hosts` entry for the host; else why not.
    async fn verdict(&self, key: &PublicKey) -> Result<(), String> {
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        if self.sha256.is_some_and(|pinned| fingerprint.sha256() == Some(pinned)) {
            return Ok(());
        }
        let mut reasons = Vec::new();
        if self.sha256.is_some() {
            reasons.push("it is not FTP_HOST_KEY_SHA256".to_owned());
        }
        if let Some(path) = self.known_hosts.clone() {
            let (host, port, key) = (self.host.clone(), self.port, key.clone());
            let checked = tokio::task::spawn_blocking(move || {
                russh::keys::check_known_hosts_path(&host, port, &key, &path).map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("the known_hosts check stopped".to_owned()));
            match checked {
                Ok(true) => return Ok(()),
                Ok(false) => reasons.push("FTP_KNOWN_HOSTS has no entry for this host with this key".to_owned()),
                Err(e) => reasons.push(format!("FTP_KNOWN_HOSTS: {e}")),
            }
        }
        Err(reasons.join("; "))
    }
}

impl client::Handler for HostKeyCheck {
    type Error = SshFailure;

    async fn check_server_key(&mut self, server_key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, SshFailure> {
        let key = match server_key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            // A host certificate is judged by the key it certifies; certificate authorities are not consulted.
            russh::keys::PublicKeyOrCertificate::Certificate(cert) => PublicKey::new(cert.public_key().clone(), ""),
        };
        match self.verdict(&key).await {
            Ok(()) => Ok(true),
            Err(reason) => {
                Err(SshFailure::HostKey { fingerprint: key.fingerprint(HashAlg::Sha256).to_string(), reason })
            }
        }
    }
}

impl Sftp {
    /// The uploader for `settings`. A configured `known_hosts` file must be readable now, so a wrong path fails
    /// start-up instead of every upload.
    ///
    /// # Errors
    /// The `known_hosts` file cannot be read.
    pub fn new(settings: SftpSettings) -> Result<Self, String> {
        if let Some(path) = &settings.known_hosts {
            std::fs::read(path).map_err(|e| format!("FTP_KNOWN_HOSTS {} cannot be read: {e}", path.display()))?;
        }
        let ssh = client::Config { inactivity_timeout: Some(settings.connect_timeout), ..client::Config::default() };
        Ok(Self { settings, ssh: Arc::new(ssh) })
    }

    /// The remote path of `relative`: under `FTP_BASE_DIR`.
    #[must_use]
    pub fn remote_path(&self, relative: &str) -> String {
        match self.settings.base_dir.as_str() {
            "" => relative.to_owned(),
            "/" => format!("/{relative}"),
            base => format!("{base}/{relative}"),
        }
    }

    /// The public URL of `relative`: under `FTP_PUBLIC_BASE_URL`.
    #[must_use]
    pub fn public_url(&self, relative: &str) -> String {
        format!("{}/{relative}", self.settings.public_base_url)
    }

    /// Upload `files` over one session, each read from what `open` gives for its `source` (opened only when its
    /// turn comes, so a local file or an object in S3 alike); one result per file, in order. When the session
    /// cannot be opened, or breaks, the files not yet uploaded get that error.
    pub async fn upload<R, Fut>(&self, files: &[Upload], open: impl Fn(String) -> Fut) -> Vec<Result<(), GatewayError>>
    where
        R: AsyncRead + Unpin,
        Fut: Future<Output = Result<R, GatewayError>>,
    {
        let (handle, sftp) = match tokio::time::timeout(self.settings.connect_timeout, self.open()).await {
            Ok(Ok(session)) => session,
            Ok(Err(err)) => return vec![Err(err); files.len()],
            Err(_) => {
                let secs = self.settings.connect_timeout.as_secs();
                let err = self.error(
                    ErrorCode::UpstreamTimeout,
                    format!("did not complete connecting and logging in within {secs} s"),
                );
                return vec![Err(err); files.len()];
            }
        };
        let mut results = Vec::with_capacity(files.len());
        let mut made = HashSet::new();
        let mut broken: Option<GatewayError> = None;
        for file in files {
            if let Some(err) = &broken {
                results.push(Err(err.clone()));
                continue;
            }
            let remote = self.remote_path(&file.remote);
            let put = self.put(&sftp, open(file.source.clone()), &remote, &mut made);
            let result = match tokio::time::timeout(self.settings.upload_timeout, put).await {
                Ok(result) => result,
                Err(_) => Err(self
                    .error(
                        ErrorCode::UpstreamTimeout,
                        format!(
                            "did not take {remote} within {} s (FTP upload timeout)",
                            self.settings.upload_timeout.as_secs()
                        ),
                    )
                    .with_details(json!({"remote_path": remote}))),
            };
            if let Err(err) = &result {
                // A lost or stalled connection fails what is left; a refusal of one file does not.
                if matches!(err.code, ErrorCode::UpstreamUnavailable | ErrorCode::UpstreamTimeout) {
                    broken = Some(err.clone());
                }
            }
            results.push(result);
        }
        if broken.is_none() {
            let bye = async {
                let _ = sftp.close().await;
                let _ = handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
            };
            let _ = tokio::time::timeout(self.settings.connect_timeout, bye).await;
        }
        results
    }

    /// Connect, check the host key, log in and start the `sftp` subsystem.
    async fn open(&self) -> Result<(Handle<HostKeyCheck>, SftpSession), GatewayError> {
        let settings = &self.settings;
        let check = HostKeyCheck {
            host: settings.host.clone(),
            port: settings.port,
            known_hosts: settings.known_hosts.clone(),
            sha256: settings.host_key_sha256,
        };
        let mut handle = client::connect(self.ssh.clone(), (settings.host.as_str(), settings.port), check)
            .await
            .map_err(|failure| self.connect_error(failure))?;
        let auth = handle
            .authenticate_password(settings.user.as_str(), settings.password.expose())
            .await
            .map_err(|e| self.session_error("logging in", &e))?;
        if !auth.success() {
            return Err(self
                .error(ErrorCode::UpstreamError, format!("refused the password login of `{}`", settings.user))
                .with_details(json!({"host": settings.host, "port": settings.port, "user": settings.user}))
                .retryable(false));
        }
        let channel = handle.channel_open_session().await.map_err(|e| self.session_error("opening a channel", &e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| self.session_error("starting sftp", &e))?;
        let config = russh_sftp::client::Config {
            request_timeout_secs: settings.connect_timeout.as_secs().max(1),
            ..russh_sftp::client::Config::default()
        };
        let sftp = SftpSession::new_with_config(channel.into_stream(), config)
            .await
            .map_err(|e| self.sftp_error("starting the SFTP session", "", &e))?;
        Ok((handle, sftp))
    }

    /// Write what `source` opens to `.{name}.part` beside `remote`, then rename it into place.
    async fn put<R: AsyncRead + Unpin>(
        &self,
        sftp: &SftpSession,
        source: impl Future<Output = Result<R, GatewayError>>,
        remote: &str,
        made: &mut HashSet<String>,
    ) -> Result<(), GatewayError> {
        let (dir, name) = remote.rsplit_once('/').unwrap_or(("", remote));
        self.make_dirs(sftp, dir, made).await?;
        let part = if dir.is_empty() { format!(".{name}.part") } else { format!("{dir}/.{name}.part") };
        let mut source = source.await?;
        let mut target = sftp.create(part.as_str()).await.map_err(|e| self.sftp_error("creating", &part, &e))?;
        let written = async {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n =
                    source.read(&mut buffer).await.map_err(|e| GatewayError::internal("reading a stored asset", &e))?;
                if n == 0 {
                    break;
                }
                target.write_all(&buffer[..n]).await.map_err(|e| self.lost("writing", &part, &e))?;
            }
            target.flush().await.map_err(|e| self.lost("writing", &part, &e))?;
            target.shutdown().await.map_err(|e| self.lost("closing", &part, &e))
        }
        .await;
        if let Err(err) = written {
            if !matches!(err.code, ErrorCode::UpstreamUnavailable) {
                // Best effort: the connection still works, so leave nothing half-written behind.
                let _ = sftp.remove_file(part.as_str()).await;
            }
            return Err(err);
        }
        sftp.rename(part.as_str(), remote).await.map_err(|e| self.sftp_error("renaming into", remote, &e))
    }

    /// Create the folders of `dir` that do not exist yet, one level at a time.
    async fn make_dirs(&self, sftp: &SftpSession, dir: &str, made: &mut HashSet<String>) -> Result<(), GatewayError> {
        let mut current = if dir.starts_with('/') { "/".to_owned() } else { String::new() };
        for segment in dir.split('/').filter(|s| !s.is_empty() && *s != ".") {
            if !current.is_empty() && !current.ends_with('/') {
                current.push('/');
            }
            current.push_str(segment);
            if made.contains(&current) {
                continue;
            }
            let exists =
                sftp.try_exists(current.as_str()).await.map_err(|e| self.sftp_error("checking", &current, &e))?;
            if !exists {
                if let Err(e) = sftp.create_dir(current.as_str()).await {
                    // Another upload may have created it in between.
                    if !sftp.try_exists(current.as_str()).await.unwrap_or(false) {
                        return Err(self.sftp_error("creating the folder", &current, &e));
                    }
                }
            }
            made.insert(current.clone());
        }
        Ok(())
    }

    /// An error about this server: `the SFTP server host:port {what}`.
    fn error(&self, code: ErrorCode, what: String) -> GatewayError {
        let (host, port) = (&self.settings.host, self.settings.port);
        GatewayError::new(code, format!("the SFTP server {host}:{port} {what}"))
            .with_details(json!({"host": host, "port": port}))
    }

    fn connect_error(&self, failure: SshFailure) -> GatewayError {
        match failure {
            SshFailure::HostKey { fingerprint, reason } => self
                .error(
                    ErrorCode::UpstreamError,
                    format!("presented the host key {fingerprint}, which is not trusted: {reason}"),
                )
                .with_details(json!({"host": self.settings.host, "port": self.settings.port, "host_key": fingerprint}))
                .retryable(false),
            SshFailure::Ssh(russh::Error::IO(e)) => {
                self.error(ErrorCode::UpstreamUnavailable, format!("could not be reached: {e}")).retryable(true)
            }
            SshFailure::Ssh(e) => self.session_error("during the SSH handshake", &e),
        }
    }

    fn session_error(&self, what: &str, err: &russh::Error) -> GatewayError {
        self.error(ErrorCode::UpstreamUnavailable, format!("failed {what}: {err}")).retryable(true)
    }

    /// An SFTP request failed: the server's refusal (a status: permission, no such folder), a timeout, or the
    /// connection itself.
    fn sftp_error(&self, what: &str, path: &str, err: &russh_sftp::client::error::Error) -> GatewayError {
        use russh_sftp::client::error::Error;
        let (code, retryable) = match err {
            Error::Status(_) | Error::Limited(_) | Error::UnexpectedPacket | Error::UnexpectedBehavior(_) => {
                (ErrorCode::UpstreamError, false)
            }
            Error::Timeout => (ErrorCode::UpstreamTimeout, true),
            Error::IO(_) => (ErrorCode::UpstreamUnavailable, true),
        };
        let at = if path.is_empty() { String::new() } else { format!(" {path}") };
        self.error(code, format!("failed {what}{at}: {err}"))
            .with_details(json!({"host": self.settings.host, "port": self.settings.port, "remote_path": path}))
            .retryable(retryable)
    }

    /// Writing failed: the connection broke or the server stopped acknowledging.
    fn lost(&self, what: &str, path: &str, err: &std::io::Error) -> GatewayError {
        self.error(ErrorCode::UpstreamUnavailable, format!("stopped answering while {what} {path} ({err})"))
            .with_details(json!({"host": self.settings.host, "port": self.settings.port, "remote_path": path}))
            .retryable(true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings(base_dir: &str) -> SftpSettings {
        SftpSettings {
            host: "127.0.0.1".into(),
            port: 9,
            user: "media".into(),
            password: "pw-never-shown-41".into(),
            base_dir: base_dir.into(),
            public_base_url: "https://cdn.example.com/media".into(),
            known_hosts: None,
            host_key_sha256: Some([7; 32]),
            connect_timeout: Duration::from_secs(2),
            upload_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn remote_paths_and_public_urls_follow_the_base_folder_and_url() {
        let relative = "film/image/3f2b9c1e-8a4d-4e0f-9b7a-1c2d3e4f5a6b.png";
        let sftp = Sftp::new(settings("/srv/www")).unwrap();
        assert_eq!(sftp.remote_path(relative), format!("/srv/www/{relative}"));
        assert_eq!(sftp.public_url(relative), format!("https://cdn.example.com/media/{relative}"));
        assert_eq!(Sftp::new(settings("")).unwrap().remote_path(relative), relative, "the login folder");
        assert_eq!(Sftp::new(settings("/")).unwrap().remote_path(relative), format!("/{relative}"));
        assert_eq!(Sftp::new(settings("uploads")).unwrap().remote_path(relative), format!("uploads/{relative}"));
    }

    #[test]
    fn a_known_hosts_file_that_cannot_be_read_fails_at_start() {
        let mut with_file = settings("");
        with_file.known_hosts = Some(PathBuf::from("/nonexistent/known_hosts"));
        let err = Sftp::new(with_file).unwrap_err();
        assert!(err.contains("FTP_KNOWN_HOSTS /nonexistent/known_hosts cannot be read"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_every_file_with_a_retryable_error_and_no_password() {
        // Bind then drop a listener: the port is closed, so the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut closed = settings("/srv");
        closed.port = port;
        let sftp = Sftp::new(closed).unwrap();
        let files = [
            Upload { source: "/nonexistent/a.png".into(), remote: "p/image/a.png".into() },
            Upload { source: "/nonexistent/b.png".into(), remote: "p/image/b.png".into() },
        ];
        let results = sftp
            .upload(&files, |path| async move {
                tokio::fs::File::open(path).await.map_err(|e| GatewayError::internal("opening", &e))
            })
            .await;
        assert_eq!(results.len(), 2);
        for result in results {
            let err = result.unwrap_err();
            assert_eq!(err.code, ErrorCode::UpstreamUnavailable, "{err:?}");
            assert!(err.retryable);
            assert!(err.message.contains(&format!("127.0.0.1:{port} could not be reached")), "{}", err.message);
            let shown = format!("{err:?} {}", err.details);
            assert!(!shown.contains("pw-never-shown-41"), "{shown}");
        }
    }
}

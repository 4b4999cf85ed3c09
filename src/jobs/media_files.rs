//! Media storage: finished outputs live at `{project}/{image|video|audio}/{asset_id}.{ext}`, in the local folder
//! `{data_dir}/Media` or, with `GATEWAY_MEDIA_URL=s3://bucket[/prefix]`, as objects `{prefix}/{project}/...` of
//! an S3 bucket every replica shares (never both: with the URL set nothing falls back to the folder). Either
//! way they are served at `/assets/{project}/{type}/{file}`.
//!
//! Files are written to a hidden temporary name in the target folder and renamed into place, so a reader never
//! sees half a file; for S3 the temporary file is in `{data_dir}/Media/.staging` and is uploaded with its length
//! once complete (an object appears whole or not at all), then removed. Downloads stop at the configured size cap.
//! Project names are sanitised to one safe path segment; [`MediaStore::resolve`] accepts only names this module
//! could have produced, so no request can reach outside the media folder or the bucket's media.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::record::{Asset, MediaKind};
use crate::config::MediaSettings;
use crate::error::{ErrorCode, GatewayError};
use crate::providers::s3::{S3Bucket, body_stream};

/// Where stored media lives, and how its files are linked.
#[derive(Debug, Clone)]
pub struct MediaStore {
    /// The media folder; with a bucket, only its `.staging` folder is used.
    root: PathBuf,
    settings: MediaSettings,
    bucket: Option<Arc<S3Bucket>>,
}

/// Where a stored asset's bytes are.
#[derive(Debug, Clone)]
pub enum Location<'a> {
    /// A file of the media folder.
    File(PathBuf),
    /// An object of the bucket, by its name below the prefix: `{project}/{type}/{file}`.
    Object(&'a S3Bucket, String),
}

/// A stored asset's bytes as they are read (a file, or an object's body as it streams in).
pub type MediaReader = Pin<Box<dyn AsyncRead + Send>>;

/// A project name as one safe path segment: letters, digits, `-` and `_` kept, anything else `_`, at most 64
/// characters; nothing usable gives `default`.
#[must_use]
pub fn sanitize_project(raw: Option<&str>) -> String {
    let cleaned: String = raw
        .unwrap_or_default()
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .take(64)
        .collect();
    if cleaned.chars().any(|c| c.is_ascii_alphanumeric()) { cleaned } else { "default".to_owned() }
}

/// The file extension for a media type, falling back to the kind's usual format.
#[must_use]
pub fn extension_for(mime_type: &str, kind: MediaKind) -> &'static str {
    match mime_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/ogg" | "audio/opus" => "ogg",
        "audio/flac" => "flac",
        "audio/basic" => "ulaw",
        "audio/pcm" | "audio/l16" => "pcm",
        _ => match kind {
            MediaKind::Image => "png",
            MediaKind::Video => "mp4",
            MediaKind::Audio => "mp3",
        },
    }
}

/// The media type of a stored extension (the inverse of [`extension_for`] for the kinds' defaults).
fn mime_for_extension(ext: &str, kind: MediaKind) -> String {
    let known = match ext {
        "png" => "image/png",
        "jpg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => "",
    };
    if known.is_empty() { format!("{}/{ext}", kind.as_str()) } else { known.to_owned() }
}

/// Redirects a media download follows at most.
const MAX_DOWNLOAD_REDIRECTS: usize = 5;

/// GET a provider's output URL. The shared client follows no redirect (its other requests carry credentials);
/// a download carries none, so it follows up to [`MAX_DOWNLOAD_REDIRECTS`] to http(s) URLs (CDNs and signed
/// storage links redirect). `Err` says what went wrong, for the caller's message.
async fn get_following_redirects(client: &reqwest::Client, url: &str) -> Result<reqwest::Response, String> {
    let mut current = reqwest::Url::parse(url).map_err(|_| "is not a URL".to_owned())?;
    for _ in 0..=MAX_DOWNLOAD_REDIRECTS {
        let response = client.get(current.clone()).send().await.map_err(|_| "failed".to_owned())?;
        if !response.status().is_redirection() {
            return Ok(response);
        }
        let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok());
        match location.and_then(|l| current.join(l).ok()) {
            Some(next) if matches!(next.scheme(), "http" | "https") => current = next,
            _ => return Err(format!("answered {} without a usable http(s) Location", response.status().as_u16())),
        }
    }
    Err(format!("redirected more than {MAX_DOWNLOAD_REDIRECTS} times"))
}

fn too_large(limit: u64) -> GatewayError {
    GatewayError::new(ErrorCode::UpstreamError, format!("the generated media is larger than the {limit}-byte limit"))
        .with_details(json!({"limit_bytes": limit}))
}

impl MediaStore {
    /// Media under `{data_dir}/Media`, or in `bucket` when there is one.
    #[must_use]
    pub fn new(data_dir: &Path, settings: MediaSettings, bucket: Option<S3Bucket>) -> Self {
        Self { root: data_dir.join("Media"), settings, bucket: bucket.map(Arc::new) }
    }

    #[must_use]
    pub fn settings(&self) -> &MediaSettings {
        &self.settings
    }

    /// The bucket media lives in, when it is not the local folder.
    #[must_use]
    pub fn bucket(&self) -> Option<&S3Bucket> {
        self.bucket.as_deref()
    }

    /// The public URL of a stored file.
    #[must_use]
    pub fn url(&self, project: &str, kind: MediaKind, file: &str) -> String {
        format!("{}/assets/{project}/{}/{file}", self.settings.public_base_url, kind.as_str())
    }

    /// Where `/assets/{project}/{kind}/{file}` is, when every segment is one this store produces:
    /// a sanitised project, a known kind, and `{uuid}.{ext}`. Anything else (`..`, separators, NUL) is `None`.
    #[must_use]
    pub fn resolve(&self, project: &str, kind: &str, file: &str) -> Option<Location<'_>> {
        let kind = MediaKind::parse(kind)?;
        if project.is_empty() || sanitize_project(Some(project)) != project {
            return None;
        }
        let (stem, ext) = file.split_once('.')?;
        let ext_ok = !ext.is_empty() && ext.len() <= 5 && ext.chars().all(|c| c.is_ascii_alphanumeric());
        if !ext_ok || uuid::Uuid::try_parse(stem).is_err() || stem.len() != 36 {
            return None;
        }
        Some(match self.bucket() {
            Some(bucket) => Location::Object(bucket, format!("{project}/{}/{file}", kind.as_str())),
            None => Location::File(self.root.join(project).join(kind.as_str()).join(file)),
        })
    }

    /// Open a stored asset for reading, by its `{project}/{type}/{file}` (the SFTP copy reads it so).
    pub async fn open(&self, relative: String) -> Result<MediaReader, GatewayError> {
        let mut segments = relative.splitn(3, '/');
        let (project, kind, file) = (segments.next(), segments.next(), segments.next());
        let location = project
            .zip(kind)
            .zip(file)
            .and_then(|((project, kind), file)| self.resolve(project, kind, file))
            .ok_or_else(|| GatewayError::new(ErrorCode::InvalidRequest, format!("`{relative}` is not an asset")))?;
        let missing = || GatewayError::new(ErrorCode::NotFound, format!("the stored asset `{relative}` is missing"));
        match location {
            Location::Object(bucket, name) => {
                let response = bucket.get(&name, None).await?.ok_or_else(missing)?;
                let body = body_stream(response, bucket.idle_timeout());
                Ok(Box::pin(tokio_util::io::StreamReader::new(body)))
            }
            Location::File(path) => match tokio::fs::File::open(path).await {
                Ok(file) => Ok(Box::pin(file)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing()),
                Err(e) => Err(GatewayError::internal("opening a stored asset", &e)),
            },
        }
    }

    /// Store bytes already in hand (ElevenLabs audio) as a new asset.
    pub async fn store_bytes(
        &self,
        project: &str,
        kind: MediaKind,
        mime_type: &str,
        bytes: bytes::Bytes,
    ) -> Result<Asset, GatewayError> {
        let (limit, length) = (self.settings.max_download_bytes, bytes.len() as u64);
        if length > limit {
            return Err(too_large(limit));
        }
        let project = sanitize_project(Some(project));
        let asset_id = uuid::Uuid::new_v4().to_string();
        let file = format!("{asset_id}.{}", extension_for(mime_type, kind));
        if let Some(bucket) = self.bucket() {
            let name = format!("{project}/{}/{file}", kind.as_str());
            bucket.put(&name, length, mime_type, || async { Ok(reqwest::Body::from(bytes.clone())) }).await?;
        } else {
            let (final_path, temp) = self.local_paths(&project, kind, &asset_id, &file).await?;
            let written = async {
                tokio::fs::write(&temp.path, &bytes).await?;
                temp.persist(&final_path).await
            }
            .await;
            written.map_err(|e| GatewayError::internal("writing a media file", &e))?;
        }
        Ok(self.asset(&project, kind, asset_id, file, mime_type, length, None))
    }

    /// Download a provider's output URL into a new asset, streaming to a temporary file under the size cap.
    pub async fn download(
        &self,
        client: &reqwest::Client,
        url: &str,
        project: &str,
        kind: MediaKind,
    ) -> Result<Asset, GatewayError> {
        let shown = crate::providers::upstream::redact_url(url);
        let failed = |what: &str| {
            GatewayError::new(ErrorCode::UpstreamError, format!("downloading the generated media from {shown} {what}"))
                .with_details(json!({"source_url": shown}))
                .retryable(true)
        };
        let response = get_following_redirects(client, url).await.map_err(|what| failed(&what))?;
        if !response.status().is_success() {
            return Err(failed(&format!("answered {}", response.status().as_u16())));
        }
        let limit = self.settings.max_download_bytes;
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let mime_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|m| m.starts_with(kind.as_str()))
            .unwrap_or_else(|| mime_from_url(url, kind));
        let project = sanitize_project(Some(project));
        let asset_id = uuid::Uuid::new_v4().to_string();
        let file = format!("{asset_id}.{}", extension_for(&mime_type, kind));
        let (destination, temp) = match self.bucket() {
            Some(bucket) => (Destination::Bucket(bucket), self.staging_file(&asset_id).await?),
            None => {
                let (path, temp) = self.local_paths(&project, kind, &asset_id, &file).await?;
                (Destination::Folder(path), temp)
            }
        };
        let total = async {
            let mut out = tokio::fs::File::create(&temp.path)
                .await
                .map_err(|e| GatewayError::internal("creating a media file", &e))?;
            let mut stream = response.bytes_stream();
            let mut total: u64 = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|_| failed("was interrupted"))?;
                total += chunk.len() as u64;
                if total > limit {
                    return Err(too_large(limit));
                }
                out.write_all(&chunk).await.map_err(|e| GatewayError::internal("writing a media file", &e))?;
            }
            out.flush().await.map_err(|e| GatewayError::internal("writing a media file", &e))?;
            out.sync_all().await.map_err(|e| GatewayError::internal("writing a media file", &e))?;
            drop(out);
            Ok(total)
        }
        .await?;
        match destination {
            Destination::Folder(path) => {
                temp.persist(&path).await.map_err(|e| GatewayError::internal("storing a media file", &e))?;
            }
            Destination::Bucket(bucket) => {
                let staged = || async {
                    let file = tokio::fs::File::open(&temp.path)
                        .await
                        .map_err(|e| GatewayError::internal("reading a staged media file", &e))?;
                    Ok(reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::new(file)))
                };
                bucket.put(&format!("{project}/{}/{file}", kind.as_str()), total, &mime_type, staged).await?;
            }
        }
        Ok(self.asset(&project, kind, asset_id, file, &mime_type, total, Some(url.to_owned())))
    }

    /// An asset that stays at the provider (downloads disabled).
    #[must_use]
    pub fn remote(url: &str, kind: MediaKind) -> Asset {
        Asset {
            asset_id: uuid::Uuid::new_v4().to_string(),
            media_type: kind,
            mime_type: mime_from_url(url, kind),
            url: url.to_owned(),
            file: None,
            bytes: None,
            source_url: Some(url.to_owned()),
            sftp_url: None,
            upload_error: None,
        }
    }

    /// Read a stored asset's bytes when it is small enough to inline.
    pub async fn inline_bytes(&self, project: &str, asset: &Asset) -> Option<Vec<u8>> {
        let (file, bytes) = (asset.file.as_deref()?, asset.bytes?);
        if bytes > self.settings.inline_max_bytes {
            return None;
        }
        match self.resolve(project, asset.media_type.as_str(), file)? {
            Location::File(path) => tokio::fs::read(path).await.ok(),
            Location::Object(bucket, name) => {
                match bucket.read_capped(&name, self.settings.inline_max_bytes).await {
                    Ok(bytes) => bytes.map(Vec::from),
                    Err(err) => {
                        // The link stays in the result; only the inline copy is left out.
                        tracing::warn!(asset = name, error = %err, "media not inlined: the bucket did not give it");
                        None
                    }
                }
            }
        }
    }

    /// The final path of a new file in the media folder, and its hidden `.part` beside it.
    async fn local_paths(
        &self,
        project: &str,
        kind: MediaKind,
        asset_id: &str,
        file: &str,
    ) -> Result<(PathBuf, PartFile), GatewayError> {
        let dir = self.root.join(project).join(kind.as_str());
        tokio::fs::create_dir_all(&dir).await.map_err(|e| GatewayError::internal("creating the media folder", &e))?;
        Ok((dir.join(file), PartFile { path: dir.join(format!(".{asset_id}.part")), kept: false }))
    }

    /// A download's temporary file before it goes to the bucket: `{data_dir}/Media/.staging/{asset_id}.part`.
    async fn staging_file(&self, asset_id: &str) -> Result<PartFile, GatewayError> {
        let dir = self.root.join(".staging");
        tokio::fs::create_dir_all(&dir).await.map_err(|e| GatewayError::internal("creating the staging folder", &e))?;
        Ok(PartFile { path: dir.join(format!("{asset_id}.part")), kept: false })
    }

    #[expect(clippy::too_many_arguments, reason = "an asset is these fields")]
    fn asset(
        &self,
        project: &str,
        kind: MediaKind,
        asset_id: String,
        file: String,
        mime_type: &str,
        bytes: u64,
        source_url: Option<String>,
    ) -> Asset {
        let ext = file.rsplit('.').next().unwrap_or_default();
        Asset {
            asset_id,
            media_type: kind,
            mime_type: if mime_type.contains('/') { mime_type.to_owned() } else { mime_for_extension(ext, kind) },
            url: self.url(project, kind, &file),
            file: Some(file),
            bytes: Some(bytes),
            source_url,
            sftp_url: None,
            upload_error: None,
        }
    }
}

/// Where a finished download goes: moved into the media folder, or uploaded to the bucket.
enum Destination<'a> {
    Folder(PathBuf),
    Bucket(&'a S3Bucket),
}

/// A hidden `.part` file, removed when dropped unless it was moved into place, so an interrupted write (an
/// error, or a call dropped at its deadline) leaves nothing behind.
struct PartFile {
    path: PathBuf,
    kept: bool,
}

impl PartFile {
    async fn persist(mut self, to: &Path) -> std::io::Result<()> {
        tokio::fs::rename(&self.path, to).await?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            // Best effort: the file may not exist yet.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Guess a media type from a URL's extension.
fn mime_from_url(url: &str, kind: MediaKind) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let ext = if ext == "jpeg" { "jpg".to_owned() } else { ext };
    if ext.is_empty() || ext.contains('/') {
        return mime_for_extension(extension_for("", kind), kind);
    }
    mime_for_extension(&ext, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MediaStore {
        let settings = MediaSettings {
            download_enabled: true,
            inline_max_bytes: 10,
            max_download_bytes: 100,
            public_base_url: "http://gw".into(),
            sftp: None,
            s3: None,
        };
        MediaStore::new(Path::new("/data"), settings, None)
    }

    #[test]
    fn project_names_become_one_safe_segment() {
        assert_eq!(sanitize_project(Some("My Film/../x")), "My_Film____x");
        assert_eq!(sanitize_project(Some("..")), "default");
        assert_eq!(sanitize_project(None), "default");
        assert_eq!(sanitize_project(Some("a\0b")), "a_b");
        assert_eq!(sanitize_project(Some(&"p".repeat(100))).len(), 64);
    }

    #[test]
    fn only_produced_names_resolve() {
        let id = "3f2b9c1e-8a4d-4e0f-9b7a-1c2d3e4f5a6b";
        let store = store();
        let ok = store.resolve("film", "image", &format!("{id}.png")).unwrap();
        let expected = Path::new("/data/Media/film/image").join(format!("{id}.png"));
        assert!(matches!(ok, Location::File(path) if path == expected));
        for (project, kind, file) in [
            ("..", "image", format!("{id}.png")),
            ("film", "secrets", format!("{id}.png")),
            ("film", "image", "../../etc/passwd".to_owned()),
            ("film", "image", format!("{id}.png\0")),
            ("fi\\lm", "image", format!("{id}.png")),
            ("film", "image", "passwd".to_owned()),
            ("/etc", "image", format!("{id}.png")),
        ] {
            assert!(store.resolve(project, kind, &file).is_none(), "{project}/{kind}/{file}");
        }
    }

    #[test]
    fn extensions_follow_media_types() {
        assert_eq!(extension_for("audio/mpeg", MediaKind::Audio), "mp3");
        assert_eq!(extension_for("application/octet-stream", MediaKind::Video), "mp4");
        assert_eq!(mime_from_url("https://cdn/x/y.JPEG?sig=1", MediaKind::Image), "image/jpeg");
        assert_eq!(mime_from_url("https://cdn/x/y", MediaKind::Video), "video/mp4");
    }
}

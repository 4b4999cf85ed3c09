//! S3-compatible object storage (AWS, MinIO, Garage, Supabase Storage): the bucket stored media lives in when
//! `GATEWAY_MEDIA_URL=s3://bucket[/prefix]`.
//!
//! Requests are signed with SigV4 by `rusty-s3` as presigned URLs valid for a few minutes and sent over the
//! gateway's one pooled reqwest client (no redirect followed). Each exchange is bounded: an answer must begin
//! within the S3 timeout, a body may never stay silent longer than that, an upload must end within the upload
//! timeout, and bodies read whole (inline media, error answers) are capped. Failures are typed
//! [`GatewayError`]s naming the bucket and endpoint, never a signed URL or a key: the bucket unreachable,
//! too slow or answering 5xx is retryable (`upstream_unavailable` / `upstream_timeout`), refused credentials
//! are not. This module moves bytes and knows nothing about jobs or asset names.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RANGE};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use serde_json::json;

use super::upstream::{Failure, RetryPolicy, read_capped};
use crate::config::S3Settings;
use crate::error::{ErrorCode, GatewayError};

/// How long a signed URL stays valid; it is used at once, and S3 checks it when a request arrives.
const SIGNED_FOR: Duration = Duration::from_secs(300);

/// The longest `/ready` waits for the bucket's answer (a readiness probe must answer quickly).
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The most read of an error answer (S3 explains itself in a short XML document).
const ERROR_BODY_BYTES: u64 = 8 * 1024;

/// One bucket, its credentials, and the bounds of every exchange with it.
pub struct S3Bucket {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    /// The endpoint as configured, for messages.
    endpoint: String,
    http: reqwest::Client,
    timeout: Duration,
    upload_timeout: Duration,
}

impl S3Bucket {
    /// The bucket of `settings` over the shared client. `Err` says why the endpoint cannot address it.
    pub fn new(settings: &S3Settings, http: reqwest::Client) -> Result<Self, String> {
        let endpoint = reqwest::Url::parse(&settings.endpoint).map_err(|e| format!("the endpoint: {e}"))?;
        let style = if settings.path_style { UrlStyle::Path } else { UrlStyle::VirtualHost };
        let bucket = Bucket::new(endpoint, style, settings.bucket.clone(), settings.region.clone())
            .map_err(|e| format!("the bucket at the endpoint: {e}"))?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(settings.access_key_id.expose(), settings.secret_access_key.expose()),
            prefix: settings.prefix.clone(),
            endpoint: settings.endpoint.clone(),
            http,
            timeout: settings.timeout,
            upload_timeout: settings.upload_timeout,
        })
    }

    /// The longest silence allowed in a body being read.
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.timeout
    }

    /// The object key of `relative` (`{project}/{type}/{file}`): under the prefix.
    fn key(&self, relative: &str) -> String {
        if self.prefix.is_empty() { relative.to_owned() } else { format!("{}/{relative}", self.prefix) }
    }

    /// Does the bucket answer (HEAD bucket: it exists and the credentials may use it)? For `/ready`, within
    /// [`CHECK_TIMEOUT`] (or the S3 timeout when shorter).
    pub async fn check(&self) -> Result<(), GatewayError> {
        let url = self.bucket.head_bucket(Some(&self.credentials)).sign(SIGNED_FOR);
        let within = self.timeout.min(CHECK_TIMEOUT);
        let response = self.send(self.http.head(url), within, "answering HEAD bucket").await?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            404 => Err(self.error(ErrorCode::UpstreamError, "does not exist (HEAD bucket answered 404)".into())),
            _ => Err(self.refusal(response, "HEAD bucket", None).await),
        }
    }

    /// Store `length` bytes of `content_type` as the object of `relative`, each attempt within the upload
    /// timeout. A retryable failure (unreachable, 5xx, too slow) is tried again after the upstream client's
    /// default delays (3 attempts in all): a PUT of the same key is idempotent, and a generation already paid for
    /// should survive a blip. `body` makes the body anew for each attempt.
    pub async fn put<F, Fut>(
        &self,
        relative: &str,
        length: u64,
        content_type: &str,
        body: F,
    ) -> Result<(), GatewayError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<reqwest::Body, GatewayError>>,
    {
        let mut delays = RetryPolicy::default().delays();
        loop {
            match self.put_once(relative, body().await?, length, content_type).await {
                Err(err) if err.retryable => {
                    let Some(delay) = delays.next() else { return Err(err) };
                    tracing::warn!(object = relative, error = %err, "storing a media object failed; trying again");
                    tokio::time::sleep(delay).await;
                }
                done => return done,
            }
        }
    }

    async fn put_once(
        &self,
        relative: &str,
        body: reqwest::Body,
        length: u64,
        content_type: &str,
    ) -> Result<(), GatewayError> {
        let key = self.key(relative);
        let url = self.bucket.put_object(Some(&self.credentials), &key).sign(SIGNED_FOR);
        let request = self.http.put(url).header(CONTENT_LENGTH, length).header(CONTENT_TYPE, content_type).body(body);
        let response = self.send(request, self.upload_timeout, "storing an object").await?;
        if response.status().is_success() {
            return Ok(());
        }
        Err(self.refusal(response, "PUT object", Some(&key)).await)
    }

    /// The object of `relative` as an answer still to be read (`Range` passed on), or `None` when there is none.
    pub async fn get(
        &self,
        relative: &str,
        range: Option<&HeaderValue>,
    ) -> Result<Option<reqwest::Response>, GatewayError> {
        let key = self.key(relative);
        let url = self.bucket.get_object(Some(&self.credentials), &key).sign(SIGNED_FOR);
        let mut request = self.http.get(url);
        if let Some(range) = range {
            request = request.header(RANGE, range);
        }
        let response = self.send(request, self.timeout, "answering GET object").await?;
        match response.status().as_u16() {
            // 206 for a range, 416 for a range past the end: the caller passes them on.
            200..=299 | 416 => Ok(Some(response)),
            404 => Ok(None),
            _ => Err(self.refusal(response, "GET object", Some(&key)).await),
        }
    }

    /// The whole object of `relative` when it is at most `limit` bytes: `Ok(None)` when it is missing or larger.
    pub async fn read_capped(&self, relative: &str, limit: u64) -> Result<Option<Bytes>, GatewayError> {
        let Some(response) = self.get(relative, None).await? else { return Ok(None) };
        match tokio::time::timeout(self.timeout, read_capped(response, limit)).await {
            Ok(Ok(bytes)) => Ok(Some(bytes)),
            Ok(Err(Failure::TooLarge)) => Ok(None),
            Ok(Err(Failure::Transport(e))) => Err(self.transport_error(&e, "sending an object", self.timeout)),
            Err(_) => Err(self.slow("sending an object", self.timeout)),
        }
    }

    /// Send `request`, the answer's head due within `timeout`.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
        doing: &str,
    ) -> Result<reqwest::Response, GatewayError> {
        match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(self.transport_error(&e, doing, timeout)),
            Err(_) => Err(self.slow(doing, timeout)),
        }
    }

    /// `the S3 bucket `b` at {endpoint} {what}`, with the bucket and endpoint in the details.
    fn error(&self, code: ErrorCode, what: String) -> GatewayError {
        let bucket = self.bucket.name();
        GatewayError::new(code, format!("the S3 bucket `{bucket}` at {} {what}", self.endpoint))
            .with_details(json!({"bucket": bucket, "endpoint": self.endpoint}))
    }

    fn slow(&self, doing: &str, within: Duration) -> GatewayError {
        let secs = within.as_secs_f64();
        self.error(ErrorCode::UpstreamTimeout, format!("took longer than {secs} s {doing}")).retryable(true)
    }

    /// A failed exchange, described without reqwest's text (it would show the signed URL).
    fn transport_error(&self, err: &reqwest::Error, doing: &str, within: Duration) -> GatewayError {
        if err.is_timeout() {
            return self.slow(doing, within);
        }
        let what = if err.is_connect() { "cannot be reached".to_owned() } else { format!("broke off {doing}") };
        self.error(ErrorCode::UpstreamUnavailable, what).retryable(true)
    }

    /// A non-success answer, with S3's error code (`SignatureDoesNotMatch`, `AccessDenied`, ...) when it sent one.
    async fn refusal(&self, response: reqwest::Response, action: &str, key: Option<&str>) -> GatewayError {
        let status = response.status().as_u16();
        let body = tokio::time::timeout(self.timeout, read_capped(response, ERROR_BODY_BYTES)).await;
        let s3_code = match body {
            Ok(Ok(bytes)) => s3_error_code(&bytes),
            _ => None,
        };
        let said = s3_code.as_deref().map_or_else(String::new, |code| format!(" {code}"));
        let (code, what) = match status {
            401 | 403 => (
                ErrorCode::UpstreamError,
                format!("refused the gateway's credentials ({action} answered {status}{said}): check the access keys"),
            ),
            500..=599 => (ErrorCode::UpstreamUnavailable, format!("failed ({action} answered {status}{said})")),
            _ => (ErrorCode::UpstreamError, format!("refused {action} ({status}{said})")),
        };
        let (bucket, endpoint) = (self.bucket.name(), &self.endpoint);
        self.error(code, what).retryable(status >= 500).with_details(
            json!({"bucket": bucket, "endpoint": endpoint, "key": key, "s3_status": status, "s3_code": s3_code}),
        )
    }
}

impl std::fmt::Debug for S3Bucket {
    /// Where the bucket is; neither key (rusty-s3's `Credentials` would show the key id).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Bucket")
            .field("bucket", &self.bucket.name())
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// The `<Code>` of an S3 error document, when it is a plain name.
fn s3_error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let code = &text[start..start + text[start..].find("</Code>")?];
    (!code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric())).then(|| code.to_owned())
}

/// An answer's body as a stream that ends in an error when S3 stays silent longer than `idle` or breaks off.
pub fn body_stream(response: reqwest::Response, idle: Duration) -> impl Stream<Item = io::Result<Bytes>> + Send {
    futures_util::stream::unfold(Some(response), move |state| async move {
        let mut response = state?;
        match tokio::time::timeout(idle, response.chunk()).await {
            Ok(Ok(Some(chunk))) => Some((Ok(chunk), Some(response))),
            Ok(Ok(None)) => None,
            Ok(Err(_)) => Some((Err(io::Error::other("the S3 transfer broke off")), None)),
            Err(_) => Some((Err(io::Error::new(io::ErrorKind::TimedOut, "the S3 transfer stalled")), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(endpoint: &str, path_style: bool, prefix: &str) -> S3Bucket {
        let settings = S3Settings {
            bucket: "media".into(),
            prefix: prefix.into(),
            endpoint: endpoint.into(),
            region: "eu-west-3".into(),
            path_style,
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret-never-in-a-url".into(),
            timeout: Duration::from_secs(15),
            upload_timeout: Duration::from_secs(300),
        };
        S3Bucket::new(&settings, reqwest::Client::new()).unwrap()
    }

    #[test]
    fn objects_are_addressed_by_style_under_the_prefix_and_urls_never_carry_the_secret() {
        let aws = bucket("https://s3.eu-west-3.amazonaws.com", false, "gw");
        let url = aws.bucket.get_object(Some(&aws.credentials), &aws.key("p/image/a.png")).sign(SIGNED_FOR);
        assert_eq!(url.host_str(), Some("media.s3.eu-west-3.amazonaws.com"));
        assert_eq!(url.path(), "/gw/p/image/a.png");
        assert!(url.query().unwrap().contains("X-Amz-Signature="), "{url}");
        assert!(!url.as_str().contains("secret-never-in-a-url"), "{url}");
        let minio = bucket("http://127.0.0.1:9000", true, "");
        let url = minio.bucket.put_object(Some(&minio.credentials), &minio.key("p/audio/b.mp3")).sign(SIGNED_FOR);
        assert_eq!((url.host_str(), url.port(), url.path()), (Some("127.0.0.1"), Some(9000), "/media/p/audio/b.mp3"));
        let printed = format!("{minio:?}");
        assert!(!printed.contains("secret-never-in-a-url") && !printed.contains("AKIDEXAMPLE"), "{printed}");
    }

    #[test]
    fn error_codes_are_read_from_s3_error_documents() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>";
        assert_eq!(s3_error_code(body).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_error_code(b"<Error><Code>a b</Code></Error>"), None);
        assert_eq!(s3_error_code(b"not xml"), None);
    }
}

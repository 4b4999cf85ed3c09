//! Where stored media lives: the local folder (the default) or, with `media_url = s3://bucket[/prefix]`, a bucket
//! of S3-compatible object storage (AWS, MinIO, Garage, Supabase Storage) that every replica reads and writes.

use std::time::Duration;

use super::ConfigError;
use super::raw::RawConfig;
use super::secret::Secret;
use super::values::{http_url, non_empty, positive_secs};

/// The bucket stored media goes to, and how requests to it are addressed, signed and bounded.
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// Object keys start with `{prefix}/`; empty: at the bucket's root. No leading or trailing `/`.
    pub prefix: String,
    /// The S3 API's URL, without a trailing `/`.
    pub endpoint: String,
    pub region: String,
    /// `{endpoint}/{bucket}/{key}` when true, `{bucket}.{endpoint host}/{key}` when false.
    pub path_style: bool,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    /// How long S3 may take to answer a request, and the longest silence in a transfer.
    pub timeout: Duration,
    /// The whole upload of one stored file.
    pub upload_timeout: Duration,
}

/// The S3 bucket when `media_url` is set; `None` keeps media in the local folder.
pub(super) fn s3(raw: &RawConfig) -> Result<Option<S3Settings>, ConfigError> {
    let Some(url) = non_empty(raw.media_url.clone()) else { return Ok(None) };
    let (bucket, prefix) = parse_media_url(&url).map_err(|why| ConfigError::key("media_url", why))?;
    let region = non_empty(Some(raw.s3_region.clone()))
        .ok_or_else(|| ConfigError::key("s3_region", "must not be empty (AWS's default is us-east-1)"))?;
    if !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ConfigError::key("s3_region", format!("`{region}` is not a region name like eu-west-3")));
    }
    let endpoint = match non_empty(raw.s3_endpoint.clone()) {
        Some(endpoint) => {
            let endpoint = http_url("s3_endpoint", &endpoint)?;
            if endpoint.contains('@') || endpoint.contains('?') {
                return Err(ConfigError::key("s3_endpoint", "must carry no credentials or query string"));
            }
            Some(endpoint)
        }
        None => None,
    };
    // Endpoints other than AWS (MinIO, Garage, Supabase) expect path-style addressing; AWS wants virtual hosts.
    let path_style = raw.s3_path_style.unwrap_or(endpoint.is_some());
    let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    let required = |key: &str, value: &Option<String>| {
        Secret::from_setting(value.clone())
            .ok_or_else(|| ConfigError::key(key, "must be set when media_url is an s3:// URL (GATEWAY_MEDIA_URL)"))
    };
    Ok(Some(S3Settings {
        bucket,
        prefix,
        endpoint,
        region,
        path_style,
        access_key_id: required("s3_access_key_id", &raw.s3_access_key_id)?,
        secret_access_key: required("s3_secret_access_key", &raw.s3_secret_access_key)?,
        timeout: positive_secs("s3_timeout_secs", raw.s3_timeout_secs)?,
        upload_timeout: positive_secs("s3_upload_timeout_secs", raw.s3_upload_timeout_secs)?,
    }))
}

/// `s3://bucket[/prefix/...]` as the bucket name and the prefix without its outer slashes.
fn parse_media_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{url}` is not an `s3://bucket[/prefix]` URL (unset keeps the local folder)"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    // S3's bucket naming rules (3 to 63 letters, digits, `-` and `.`, alphanumeric at both ends), with the
    // uppercase letters and `_` that older AWS buckets and some other stores accept.
    let edges_ok = bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    let chars_ok = bucket.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !(3..=63).contains(&bucket.len()) || !edges_ok || !chars_ok {
        return Err(format!(
            "`{bucket}` is not a bucket name (3 to 63 letters, digits, `-`, `.` or `_`; no credentials here)"
        ));
    }
    let prefix = prefix.trim_matches('/');
    let segments_ok = prefix.is_empty()
        || prefix.split('/').all(|s| {
            !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
    if !segments_ok {
        return Err(format!("the prefix `{prefix}` must be `/`-separated names of letters, digits, `-`, `_` or `.`"));
    }
    Ok((bucket.to_owned(), prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(parse_media_url("s3://media").unwrap(), ("media".into(), String::new()));
        assert_eq!(parse_media_url("s3://media-1/gw/prod/").unwrap(), ("media-1".into(), "gw/prod".into()));
        assert_eq!(parse_media_url("s3://Old_Media").unwrap().0, "Old_Media", "older AWS names");
        for bad in [
            "https://media",
            "s3://",
            "s3://ab",
            "s3://me dia",
            "s3://key:secret@media",
            "s3://media/../x",
            "s3://media/a//b",
            "s3://-media",
        ] {
            assert!(parse_media_url(bad).is_err(), "{bad}");
        }
    }
}

//! One outside OAuth issuer: where its signing keys are (discovered once through its OpenID configuration or
//! RFC 8414 metadata), and the keys themselves (its JWKS), cached and fetched again when a token names a key id
//! the cache does not know (keys rotate), at most once per refresh interval (`GATEWAY_OAUTH_JWKS_REFRESH_SECS`),
//! and every [`KEYS_TTL`].
//!
//! Every fetch is bounded like any upstream answer (no redirects followed, a size cap, a timeout) and a failure
//! is a typed error; the previous keys stay in use until a fetch succeeds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock, Semaphore};

use crate::error::{ErrorCode, GatewayError};
use crate::metrics::Metrics;
use crate::providers::upstream::{Outgoing, RetryPolicy, Upstream};

/// Cached keys are fetched again after this long.
pub const KEYS_TTL: Duration = Duration::from_secs(600);
/// The largest metadata or JWKS document read.
const MAX_DOCUMENT_BYTES: u64 = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
const PROVIDER: &str = "oauth";

/// The keys of one issuer at one time.
#[derive(Debug)]
struct Keys {
    set: JwkSet,
    fetched: Instant,
}

/// One configured issuer.
#[derive(Debug)]
pub struct Issuer {
    /// The issuer identifier, exactly as tokens say it.
    pub url: String,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    cap: Arc<Semaphore>,
    /// An unknown key id refetches the keys at most this often (a flood of forged key ids costs one fetch).
    refresh_interval: Duration,
    jwks_uri: RwLock<Option<String>>,
    keys: RwLock<Option<Arc<Keys>>>,
    /// Serializes fetches, and remembers when the last one started.
    fetching: Mutex<Option<Instant>>,
}

impl Issuer {
    #[must_use]
    pub fn new(url: String, http: reqwest::Client, metrics: Arc<Metrics>, refresh_interval: Duration) -> Self {
        Self {
            url,
            http,
            metrics,
            cap: Arc::new(Semaphore::new(4)),
            refresh_interval,
            jwks_uri: RwLock::new(None),
            keys: RwLock::new(None),
            fetching: Mutex::new(None),
        }
    }

    /// The issuer's key for a token's key id (`None` when the token names none: the issuer's only key).
    pub async fn key(&self, kid: Option<&str>, request_id: &str) -> Result<Jwk, GatewayError> {
        let cached = self.keys.read().await.clone();
        let fresh = cached.as_ref().is_some_and(|k| k.fetched.elapsed() < KEYS_TTL);
        if let Some(jwk) = cached.as_ref().filter(|_| fresh).and_then(|keys| pick(&keys.set, kid)) {
            return Ok(jwk);
        }
        if let Err(err) = self.refresh(request_id).await {
            // The issuer is unreachable: keys it published before still verify its tokens.
            let known = cached.as_ref().and_then(|keys| pick(&keys.set, kid));
            return known.ok_or(err).inspect(|_| {
                tracing::warn!(issuer = %self.url, "the issuer's keys could not be fetched again; using the cached ones");
            });
        }
        let keys = self.keys.read().await.clone();
        keys.as_ref().and_then(|k| pick(&k.set, kid)).ok_or_else(|| {
            GatewayError::new(ErrorCode::Unauthorized, "the token's signing key is not one its issuer publishes")
                .with_details(serde_json::json!({"reason": "invalid_token"}))
        })
    }

    /// Fetch the keys again, unless another fetch just did (then use its result).
    async fn refresh(&self, request_id: &str) -> Result<(), GatewayError> {
        let mut last = self.fetching.lock().await;
        if last.is_some_and(|at| at.elapsed() < self.refresh_interval) && self.keys.read().await.is_some() {
            return Ok(());
        }
        *last = Some(Instant::now());
        // Bound first: a guard in the match scrutinee would live through the arms and deadlock the write.
        let known = self.jwks_uri.read().await.clone();
        let jwks_uri = match known {
            Some(uri) => uri,
            None => {
                let uri = self.discover(request_id).await?;
                *self.jwks_uri.write().await = Some(uri.clone());
                uri
            }
        };
        let document = self.fetch(&jwks_uri, request_id).await?;
        let set: JwkSet = serde_json::from_value(document).map_err(|e| {
            GatewayError::new(
                ErrorCode::UpstreamError,
                format!("the issuer's JWKS at {jwks_uri} is not a key set: {e}"),
            )
        })?;
        *self.keys.write().await = Some(Arc::new(Keys { set, fetched: Instant::now() }));
        Ok(())
    }

    /// The `jwks_uri` from the issuer's metadata: OpenID configuration, else RFC 8414 metadata. The metadata must
    /// name this very issuer.
    async fn discover(&self, request_id: &str) -> Result<String, GatewayError> {
        let mut last_error = None;
        for url in metadata_urls(&self.url) {
            match self.fetch(&url, request_id).await {
                Ok(metadata) => {
                    if metadata.get("issuer").and_then(Value::as_str) != Some(self.url.as_str()) {
                        return Err(GatewayError::new(
                            ErrorCode::UpstreamError,
                            format!("the metadata at {url} names another issuer than {}", self.url),
                        ));
                    }
                    return metadata.get("jwks_uri").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
                        GatewayError::new(ErrorCode::UpstreamError, format!("the metadata at {url} has no jwks_uri"))
                    });
                }
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| GatewayError::internal("discovering an issuer", &"no metadata URL")))
    }

    async fn fetch(&self, url: &str, request_id: &str) -> Result<Value, GatewayError> {
        fetch_json(
            &Fetcher { http: &self.http, metrics: &self.metrics, cap: &self.cap },
            url,
            MAX_DOCUMENT_BYTES,
            request_id,
        )
        .await
    }
}

/// What a bounded fetch of an OAuth document goes through.
pub struct Fetcher<'a> {
    pub http: &'a reqwest::Client,
    pub metrics: &'a Arc<Metrics>,
    /// At most this many fetches at once.
    pub cap: &'a Arc<Semaphore>,
}

/// GET a JSON document like any upstream answer: no redirects followed, at most `max_bytes`, a timeout, 5xx
/// retried; a failure is a typed error.
pub async fn fetch_json(
    fetcher: &Fetcher<'_>,
    url: &str,
    max_bytes: u64,
    request_id: &str,
) -> Result<Value, GatewayError> {
    let upstream = Upstream {
        client: fetcher.http,
        metrics: fetcher.metrics,
        provider: PROVIDER,
        policy: RetryPolicy::retrying(&[502, 503, 504]),
        cap: fetcher.cap.clone(),
        max_answer_bytes: max_bytes,
    };
    let request = Outgoing {
        method: reqwest::Method::GET,
        url: url.to_owned(),
        headers: vec![("accept".into(), "application/json".into())],
        query: Vec::new(),
        body: None,
        idempotent: true,
        timeout: FETCH_TIMEOUT,
    };
    let deadline = Instant::now() + FETCH_TIMEOUT * 2;
    let answer = upstream.send(&request, request_id, deadline).await?;
    answer.error_for_status(PROVIDER)?;
    answer.json(PROVIDER)
}

/// Where an issuer's metadata may be: OpenID Connect discovery appends to the issuer; RFC 8414 inserts the
/// well-known segment before the issuer's path.
fn metadata_urls(issuer: &str) -> Vec<String> {
    let mut urls = vec![format!("{issuer}/.well-known/openid-configuration")];
    if let Ok(parsed) = reqwest::Url::parse(issuer) {
        let path = parsed.path().trim_end_matches('/');
        let origin = parsed.origin().ascii_serialization();
        urls.push(format!("{origin}/.well-known/oauth-authorization-server{path}"));
    }
    urls
}

/// The key a token names, among the issuer's signing keys; symmetric keys never count (no HS/RS confusion).
fn pick(set: &JwkSet, kid: Option<&str>) -> Option<Jwk> {
    let signing = |jwk: &&Jwk| {
        !matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            && !matches!(jwk.common.public_key_use, Some(jsonwebtoken::jwk::PublicKeyUse::Encryption))
    };
    match kid {
        Some(kid) => set.keys.iter().filter(signing).find(|jwk| jwk.common.key_id.as_deref() == Some(kid)).cloned(),
        None => {
            let mut keys = set.keys.iter().filter(signing);
            match (keys.next(), keys.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_for_in_both_places() {
        assert_eq!(
            metadata_urls("https://id.example.com/realms/acme"),
            vec![
                "https://id.example.com/realms/acme/.well-known/openid-configuration".to_owned(),
                "https://id.example.com/.well-known/oauth-authorization-server/realms/acme".to_owned(),
            ]
        );
    }

    #[test]
    fn symmetric_keys_are_never_picked() {
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
        ]}))
        .unwrap();
        assert!(pick(&set, Some("h")).is_none());
        assert!(pick(&set, Some("e")).is_some());
        assert!(pick(&set, None).is_some(), "the only signing key");
    }
}

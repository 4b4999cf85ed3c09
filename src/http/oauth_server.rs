//! The built-in authorization server's endpoints (`GATEWAY_OAUTH=builtin`): RFC 8414 metadata at
//! `/.well-known/oauth-authorization-server`, the signing keys at `/oauth/jwks`, registration
//! (`POST /oauth/register`, RFC 7591), the authorization endpoint (`GET /oauth/authorize` shows the consent page,
//! `POST /oauth/authorize` takes the person's API key and redirects back with a code) and the token endpoint
//! (`POST /oauth/token`, form-encoded). No key is needed for any of them.
//!
//! Protocol errors are OAuth's own answers (RFC 6749 section 5.2: `{error, error_description}`, 400), not the
//! gateway's error body: clients parse them. Token answers are never cached. The logic is in
//! [`crate::oauth::builtin`]; this module only translates.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::consent;
use super::request_id::RequestId;
use crate::oauth::builtin::authorize::Refused;
use crate::oauth::builtin::{AuthServer, OAuthError};

/// Where the metadata lives.
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// An OAuth error as its JSON answer.
struct OAuthAnswer(OAuthError);

impl IntoResponse for OAuthAnswer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"error": self.0.error, "error_description": self.0.description});
        no_store((status, Json(body)).into_response())
    }
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A form-encoded body's fields (the last of repeated names).
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// `GET /.well-known/oauth-authorization-server`
pub async fn metadata(State(server): State<Arc<AuthServer>>) -> Response {
    let mut response = Json(server.metadata()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// `GET /oauth/jwks`
pub async fn jwks(State(server): State<Arc<AuthServer>>) -> Response {
    let mut response = Json(server.jwks()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// `POST /oauth/register`: 201 with the client's registration.
pub async fn register(State(server): State<Arc<AuthServer>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return OAuthAnswer(OAuthError::bad("invalid_client_metadata", "the body must be a JSON object"))
            .into_response();
    };
    match server.register(&request).await {
        Ok(registration) => no_store((StatusCode::CREATED, Json(registration)).into_response()),
        Err(err) => OAuthAnswer(err).into_response(),
    }
}

/// `GET /oauth/authorize`: the consent page, or the problem with the request.
pub async fn authorize_page(
    State(server): State<Arc<AuthServer>>,
    RequestId(request_id): RequestId,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match server.check_request(&params, &request_id).await {
        Ok(request) => consent::form(&request, None),
        Err(refused) => refusal(refused),
    }
}

/// `POST /oauth/authorize`: the consent form with the person's API key.
pub async fn authorize(
    State(server): State<Arc<AuthServer>>,
    RequestId(request_id): RequestId,
    body: Bytes,
) -> Response {
    let mut fields = form_fields(&body);
    let api_key = fields.remove("api_key").unwrap_or_default();
    let request = match server.check_request(&fields, &request_id).await {
        Ok(request) => request,
        Err(refused) => return refusal(refused),
    };
    match server.approve(&request, &api_key).await {
        Ok(location) => found(&location),
        Err(None) => consent::form(&request, Some("That API key is not valid here. Check it and try again.")),
        Err(Some(err)) => consent::problem(&err.description),
    }
}

fn refusal(refused: Refused) -> Response {
    match refused {
        Refused::Show(message) => consent::problem(&message),
        Refused::Redirect(location) => found(&location),
    }
}

fn found(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => no_store((StatusCode::FOUND, [(header::LOCATION, value)]).into_response()),
        Err(_) => consent::problem("the redirect URI cannot be used"),
    }
}

/// `POST /oauth/token`
pub async fn token(State(server): State<Arc<AuthServer>>, headers: axum::http::HeaderMap, body: Bytes) -> Response {
    let form_encoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_encoded {
        let err = OAuthError::bad("invalid_request", "the token request must be application/x-www-form-urlencoded");
        return OAuthAnswer(err).into_response();
    }
    match server.token(&form_fields(&body)).await {
        Ok(tokens) => no_store(Json(tokens).into_response()),
        Err(err) => OAuthAnswer(err).into_response(),
    }
}

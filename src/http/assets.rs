//! `GET /assets/{project}/{type}/{file}`: generated media, from `{data_dir}/Media` as seed 004 served it, or
//! from the S3 bucket of `GATEWAY_MEDIA_URL` (any replica serves any asset).
//!
//! Auth: none, like the seed. Asset links are capability URLs: the file name is a random UUID v4 (122 random
//! bits) and folders are never listed, so a link can only be followed, not guessed; this lets `<img>`/`<audio>`
//! tags and MCP clients that follow a `resource_link` fetch it without a key. The path is checked before the
//! filesystem or the bucket is touched: only names the media store itself produces (a sanitised project,
//! `image|video|audio`, `{uuid}.{ext}`) are served; anything else (`..`, encoded dots, backslashes, NUL,
//! absolute paths) is a 400. tower-http's `ServeFile` answers content types, `Range` (206, 416) and conditional
//! requests for files; an object is streamed from S3 as it arrives (never buffered whole), with its stored
//! type, length and `Range` passed through. A bucket that cannot be reached is a typed, retryable 503.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED, RANGE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::errors::RestError;
use crate::error::{ErrorCode, GatewayError};
use crate::jobs::Location;
use crate::providers::s3::{S3Bucket, body_stream};
use crate::state::AppState;

/// `GET /assets/{project}/{type}/{file}`
pub async fn serve(
    State(state): State<AppState>,
    Path((project, kind, file)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, RestError> {
    let location = state.engine.jobs().media().resolve(&project, &kind, &file).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidRequest,
            "not an asset path: /assets/{project}/{image|video|audio}/{id}.{ext}",
        )
    })?;
    match location {
        Location::File(path) => {
            if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
                return Err(no_such_asset().into());
            }
            let response = ServeFile::new(path).oneshot(request).await;
            Ok(response.map_err(|e| GatewayError::internal("serving an asset", &e))?.map(Body::new))
        }
        Location::Object(bucket, name) => serve_object(bucket, &name, request.headers().get(RANGE).cloned()).await,
    }
}

fn no_such_asset() -> GatewayError {
    GatewayError::new(ErrorCode::NotFound, "no such asset")
}

/// The object's answer passed on: status (200, 206, 416), the headers that describe the bytes, the body streamed.
async fn serve_object(bucket: &S3Bucket, name: &str, range: Option<HeaderValue>) -> Result<Response, RestError> {
    let object = bucket.get(name, range.as_ref()).await?.ok_or_else(no_such_asset)?;
    let status = StatusCode::from_u16(object.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        // S3's explanation is not ours to pass on; the range it could not satisfy is.
        if let Some(range) = object.headers().get(CONTENT_RANGE) {
            response = response.header(CONTENT_RANGE, range);
        }
        return response.body(Body::empty()).map_err(|e| GatewayError::internal("answering a range", &e).into());
    }
    for name in [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_RANGE, ETAG, LAST_MODIFIED] {
        if let Some(value) = object.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    response = response.header(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let body = Body::from_stream(body_stream(object, bucket.idle_timeout()));
    response.body(body).map_err(|e| GatewayError::internal("streaming an asset", &e).into())
}

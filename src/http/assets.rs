//! `GET /assets/{project}/{type}/{file}`: generated media from `{data_dir}/Media`, as seed 004 served it.
//!
//! Auth: none, like the seed. Asset links are capability URLs: the file name is a random UUID v4 (122 random
//! bits) and folders are never listed, so a link can only be followed, not guessed; this lets `<img>`/`<audio>`
//! tags and MCP clients that follow a `resource_link` fetch it without a key. The path is checked before the
//! filesystem is touched: only names the media store itself produces (a sanitised project, `image|video|audio`,
//! `{uuid}.{ext}`) are served; anything else (`..`, encoded dots, backslashes, NUL, absolute paths) is a 400.
//! tower-http's `ServeFile` answers content types, `Range` (206, 416) and conditional requests.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::errors::RestError;
use crate::error::{ErrorCode, GatewayError};
use crate::state::AppState;

/// `GET /assets/{project}/{type}/{file}`
pub async fn serve(
    State(state): State<AppState>,
    Path((project, kind, file)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, RestError> {
    let path = state.engine.jobs().media().resolve(&project, &kind, &file).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::InvalidRequest,
            "not an asset path: /assets/{project}/{image|video|audio}/{id}.{ext}",
        )
    })?;
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return Err(GatewayError::new(ErrorCode::NotFound, "no such asset").into());
    }
    let response = ServeFile::new(path).oneshot(request).await;
    Ok(response.map_err(|e| GatewayError::internal("serving an asset", &e))?.map(Body::new))
}

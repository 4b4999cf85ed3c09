//! `GET /assets/{project}/{type}/{file}`: generated media from `{data_dir}/Media`, as seed 004 served it.
//!
//! Auth: none, like the seed. Asset links are capability URLs: the file name is a random UUID v4 (122 random
//! bits) and folders are never listed, so a link can only be followed, not guessed; this lets `<img>`/`<audio>`
//! tags and MCP clients that follow a `resource_link` fetch it without a key. The path is checked before the
//! filesystem is touched: only names the media store itself produces (a sanitised project, `image|video|audio`,
//! `{uuid}.{ext}`) are served; anything else (`..`, encoded dots, backslashes, NUL, absolute paths) is a 400.
//! tower-http's `ServeFile` answers content types, `Range` (206, 416) and conditional requests.

use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::body::rest_error;
use super::request_id::RequestId;
use crate::error::{ErrorCode, GatewayError};
use crate::state::AppState;

/// `GET /assets/{project}/{type}/{file}`
pub async fn serve(
    State(state): State<AppState>,
    Extension(RequestId(request_id)): Extension<RequestId>,
    Path((project, kind, file)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let Some(path) = state.engine.jobs().media().resolve(&project, &kind, &file) else {
        let err = GatewayError::new(
            ErrorCode::InvalidRequest,
            "not an asset path: /assets/{project}/{image|video|audio}/{id}.{ext}",
        );
        return rest_error(&err, &request_id);
    };
    if !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
        return rest_error(&GatewayError::new(ErrorCode::NotFound, "no such asset"), &request_id);
    }
    match ServeFile::new(path).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(e) => rest_error(&GatewayError::internal("serving an asset", &e), &request_id).into_response(),
    }
}

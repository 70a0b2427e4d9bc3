//! A body larger than the configured limit gets the French 413 page. The
//! body is read and dropped first (up to a bound): a client still sending
//! when the server answers and closes sees a broken connection instead of the
//! message, and the person loses the page's explanation.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::time::Duration;

use super::{AppError, AppState};

/// Beyond this, the body is not read at all: the connection is closed. Read
/// and thrown away, a body costs bandwidth and time, never memory; both are
/// bounded so that a refused upload cannot hold a connection.
const DRAIN_MAX: usize = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(5);

pub async fn refuse_oversized(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit =
        super::uploads::body_limit(req.method(), req.uri().path(), req.headers(), &st.config);
    match declared {
        Some(n) if n > limit => {
            if n <= DRAIN_MAX {
                let mut body = req.into_body();
                let mut read = 0usize;
                let _ = tokio::time::timeout(DRAIN_TIME, async {
                    while let Some(Ok(frame)) = body.frame().await {
                        read += frame.data_ref().map_or(0, |d| d.len());
                        if read > DRAIN_MAX {
                            break;
                        }
                    }
                })
                .await;
            }
            AppError::PayloadTooLarge.into_response()
        }
        _ => next.run(req).await,
    }
}

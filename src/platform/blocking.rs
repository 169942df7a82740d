//! The one way to run blocking work (git, rendering, scoring, password hashing, parsing large
//! uploads) off the async executor: on Tokio's blocking pool, inside a `blocking` span that is a
//! child of the caller's span, so the time shows up in traces and logs carry the trace id.

use crate::platform::http::error::ApiError;

/// The blocking task panicked or was cancelled at shutdown.
#[derive(Debug, thiserror::Error)]
#[error("blocking work `{what}` did not finish: {reason}")]
pub struct BlockingError {
    pub what: &'static str,
    pub reason: String,
}

impl From<BlockingError> for ApiError {
    fn from(err: BlockingError) -> Self {
        ApiError::internal(err)
    }
}

impl From<BlockingError> for crate::platform::db::DbError {
    fn from(err: BlockingError) -> Self {
        crate::platform::db::DbError::Worker(err.to_string())
    }
}

/// Runs `work` on the blocking pool; `what` names it in the span (`git.commit`, `render`, …).
pub async fn run_blocking<T, F>(what: &'static str, work: F) -> Result<T, BlockingError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::info_span!("blocking", work = what);
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| BlockingError {
            what,
            reason: if e.is_panic() {
                "it panicked".to_string()
            } else {
                "it was cancelled".to_string()
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_and_reports_a_panic_as_an_error() {
        assert_eq!(run_blocking("add", || 2 + 2).await.unwrap(), 4);
        let err = run_blocking("boom", || -> u8 { panic!("expected in this test") })
            .await
            .unwrap_err();
        assert_eq!(err.what, "boom");
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}

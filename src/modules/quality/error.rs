//! `QualityError`: what the quality module refuses with, one variant per failure and one code per
//! variant (`quality.<reason>`, listed in docs/errors.md). `Display` is the problem's `detail`;
//! each check that is not passing is one entry in `errors` (`checks.<name>`) with what to fix.
//! Generic input problems (422 `request.validation_failed`) and role checks (403
//! `auth.forbidden`) stay the platform's.

use crate::platform::http::error::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// The publish gate: the version does not pass.
    #[error(
        "This template scores {score} (pass mark {min}) and cannot be published: {}. Each entry \
         in `errors` says what to fix.",
        blocking.join("; ")
    )]
    GateFailed {
        score: u32,
        min: u32,
        blocking: Vec<String>,
        checks: Vec<FieldError>,
    },

    /// The regression gate: the version passes but scores too far below the current one.
    #[error(
        "This version scores {score} where the current one scores {previous}: a drop of {drop} \
         points, more than the {max_drop} allowed. Fix the regressions below, or have an admin \
         publish it with `\"force\": {{\"reason\": \"…\"}}`."
    )]
    Regression {
        score: u32,
        previous: i64,
        drop: i64,
        max_drop: i64,
        checks: Vec<FieldError>,
    },
}

crate::problem_codes! {
    QualityError {
        Self::GateFailed { .. } => (UNPROCESSABLE_ENTITY, "quality.gate_failed"),
        Self::Regression { .. } => (UNPROCESSABLE_ENTITY, "quality.regression"),
    }
    field_errors(self) {
        match self {
            QualityError::GateFailed { checks, .. } | QualityError::Regression { checks, .. } => {
                checks.clone()
            }
        }
    }
}

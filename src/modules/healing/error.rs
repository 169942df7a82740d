//! `HealingError`: what the healing module refuses with, one variant per failure and one code
//! per variant (`healing.<reason>`, listed in docs/errors.md). `Display` is the problem's
//! `detail`. Generic input problems (422 `request.validation_failed`, 415
//! `request.unsupported_media_type`) and role checks stay the platform's.

#[derive(Debug, thiserror::Error)]
pub enum HealingError {
    /// Not well-formed XML (or not UTF-8); nothing of the upload was stored.
    #[error(
        "{file}, line {line} (byte {byte}): {reason}. The report is not well-formed XML; nothing \
         of this upload was stored."
    )]
    MalformedReport {
        file: String,
        line: u64,
        byte: u64,
        reason: String,
    },

    /// Well-formed XML that is not a JUnit report.
    #[error(
        "{file} is XML but not a JUnit report: its root element is <{root}>, expected \
         <testsuites> or <testsuite>. Nothing of this upload was stored."
    )]
    NotJunit { file: String, root: String },

    /// The upload holds no report file and no cases.
    #[error("The upload holds no report: send JUnit XML, or JSON with `files` or `cases`.")]
    EmptyUpload,

    /// More test cases than `healing.max_cases`.
    #[error(
        "The upload holds more than {max} test cases (limit healing.max_cases); split it into \
         several uploads."
    )]
    TooManyCases { max: usize },

    /// An uploaded `.zip`/`.tar.gz` cannot be read.
    #[error("The archive cannot be read: {reason}. Send a .zip or .tar.gz of the reports folder.")]
    InvalidArchive { reason: String },

    /// An archive expands past `healing.max_archive_expanded_bytes` or holds more report files
    /// than `healing.max_archive_files`.
    #[error(
        "The archive expands to more than {max_bytes} bytes (limit \
         healing.max_archive_expanded_bytes) or holds more than {max_files} XML files (limit \
         healing.max_archive_files)."
    )]
    ArchiveTooLarge { max_bytes: u64, max_files: usize },

    /// Quarantine asked for a test with no flaky evidence in the window.
    #[error(
        "Test {id} shows no flaky evidence in the last healing.flaky_window (no retried-then-passed \
         result, no commit with both passing and failing results); only flaky tests can be \
         quarantined."
    )]
    NotFlaky { id: String },

    /// Quarantine asked for a test failing every attempt at its newest commit.
    #[error(
        "Test {id} fails every attempt at its newest commit: it is broken, not flaky, and is never \
         quarantined. Fix or revert the change that broke it."
    )]
    BrokenTest { id: String },

    #[error("Test {id} is already quarantined; unquarantine it first to change the entry.")]
    AlreadyQuarantined { id: String },

    #[error("Test {id} is not quarantined.")]
    NotQuarantined { id: String },

    #[error("No failure {id} in your tenant.")]
    FailureNotFound { id: String },

    #[error("No test {id} in your tenant.")]
    TestNotFound { id: String },

    #[error("No healing {id} in your tenant.")]
    HealingNotFound { id: String },

    /// Apply or reject of a proposal that was already decided (or is an abstention).
    #[error(
        "Healing {id} is {status}, not proposed: only a proposal can be applied or rejected. \
         Ask for a new one with POST /api/v1/healing/failures/{{id}}/heal."
    )]
    NotProposed { id: String, status: String },

    /// Apply of a proposal that may hide a real regression, without `approve_risk`.
    #[error(
        "Healing {id} may mask a regression (it changes what the test expects); check that the \
         new value is right and apply again with `\"approve_risk\": true`."
    )]
    ApprovalRequired { id: String },

    #[error(
        "Project {project} has no registered repository to apply the patch to; register one \
         with POST /api/v1/healing/repositories."
    )]
    NoRepository { project: String },

    #[error("Project {project} already has a registered repository ({id}); delete it first.")]
    RepositoryExists { project: String, id: String },

    #[error("No repository {id} in your tenant.")]
    RepositoryNotFound { id: String },

    /// The file changed on the default branch since the patch was made.
    #[error(
        "{path} on {branch} is blob {found}, but the patch was made against {expected}: the file \
         changed since. Heal the failure again to get a patch against the current file."
    )]
    PatchStale {
        path: String,
        branch: String,
        expected: String,
        found: String,
    },

    /// The diff does not apply to the file it names.
    #[error("The patch does not apply to {path}: {reason}")]
    PatchDoesNotApply { path: String, reason: String },

    /// Fetching from or pushing to the registered repository failed.
    #[error("The repository {shown} could not be used: {detail}")]
    GitFailed { shown: String, detail: String },
}

crate::problem_codes! {
    HealingError {
        Self::MalformedReport { .. } => (UNPROCESSABLE_ENTITY, "healing.malformed_report"),
        Self::NotJunit { .. } => (UNPROCESSABLE_ENTITY, "healing.not_junit"),
        Self::EmptyUpload => (UNPROCESSABLE_ENTITY, "healing.empty_upload"),
        Self::TooManyCases { .. } => (PAYLOAD_TOO_LARGE, "healing.too_many_cases"),
        Self::InvalidArchive { .. } => (UNPROCESSABLE_ENTITY, "healing.invalid_archive"),
        Self::ArchiveTooLarge { .. } => (PAYLOAD_TOO_LARGE, "healing.archive_too_large"),
        Self::NotFlaky { .. } => (UNPROCESSABLE_ENTITY, "healing.not_flaky"),
        Self::BrokenTest { .. } => (CONFLICT, "healing.broken_test"),
        Self::AlreadyQuarantined { .. } => (CONFLICT, "healing.already_quarantined"),
        Self::NotQuarantined { .. } => (NOT_FOUND, "healing.not_quarantined"),
        Self::FailureNotFound { .. } => (NOT_FOUND, "healing.failure_not_found"),
        Self::TestNotFound { .. } => (NOT_FOUND, "healing.test_not_found"),
        Self::HealingNotFound { .. } => (NOT_FOUND, "healing.healing_not_found"),
        Self::NotProposed { .. } => (CONFLICT, "healing.not_proposed"),
        Self::ApprovalRequired { .. } => (UNPROCESSABLE_ENTITY, "healing.approval_required"),
        Self::NoRepository { .. } => (CONFLICT, "healing.no_repository"),
        Self::RepositoryExists { .. } => (CONFLICT, "healing.repository_exists"),
        Self::RepositoryNotFound { .. } => (NOT_FOUND, "healing.repository_not_found"),
        Self::PatchStale { .. } => (CONFLICT, "healing.patch_stale"),
        Self::PatchDoesNotApply { .. } => (CONFLICT, "healing.patch_does_not_apply"),
        Self::GitFailed { .. } => (BAD_GATEWAY, "healing.git_failed"),
    }
}

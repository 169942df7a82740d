//! The console's problem codes (its pages answer HTML, but the code is in the page and in the
//! logs), registered beside the modules' enums for the uniqueness and documentation test.

use actix_web::http::StatusCode;

use crate::platform::http::error::CodeDoc;

pub const CONSOLE_CODES: &[CodeDoc] = &[
    CodeDoc::new("console.not_found", StatusCode::NOT_FOUND),
    CodeDoc::new("console.csrf", StatusCode::FORBIDDEN),
    CodeDoc::new("console.form_too_large", StatusCode::PAYLOAD_TOO_LARGE),
    CodeDoc::new("console.form_expected", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    CodeDoc::new("console.redrive_skipped", StatusCode::CONFLICT),
];

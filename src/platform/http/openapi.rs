//! The problem+json responses of the OpenAPI document, written once. Every `#[utoipa::path]`
//! lists a shared set ([`ApiErrors`], [`EditorErrors`], [`AdminErrors`], [`BodyErrors`],
//! [`JsonBodyErrors`]) after its success responses, then the responses only it gives (declared
//! with [`problem_responses!`](crate::problem_responses) next to the routes). A later entry for the
//! same status replaces an earlier one, so a route may word a shared status more precisely.
//!
//! What each shared status stands for (the same words on every operation):
//! - 400: the NUL middleware (`request.nul_in_path`, `request.nul_in_query`) and actix's
//!   extractors (`request.invalid_query`, `request.invalid_path`, `request.invalid_json`);
//! - 401: the bearer middleware and the role extractor (`auth.unauthorized`, …);
//! - 403: the role extractor (`auth.forbidden`);
//! - 413 / 415 / 422: body limits, content types, and invalid input (`request.nul_in_body`,
//!   `request.validation_failed` and each module's own codes);
//! - 503: the database (or another dependency) is unavailable, with `Retry-After`.
//!
//! `tests/api/platform/openapi.rs` walks the served document and checks that every operation
//! lists the statuses it can give.

use std::collections::BTreeMap;

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

pub const BAD_REQUEST: &str = "Malformed request: a NUL character (%00) in a path or query parameter, a parameter of the wrong type, or a body that cannot be parsed (`code` says which, e.g. `request.nul_in_query`, `request.invalid_json`)";
pub const UNAUTHORIZED: &str = "Not authenticated: the credentials or the bearer token are missing, invalid, expired or revoked";
pub const FORBIDDEN_EDITOR: &str = "Your role is below editor";
pub const FORBIDDEN_ADMIN: &str = "Your role is below admin";
pub const PAYLOAD_TOO_LARGE: &str = "The body is larger than the limit named in the detail";
pub const UNSUPPORTED_MEDIA_TYPE: &str =
    "Unsupported `Content-Type` (the detail lists the accepted ones)";
pub const UNPROCESSABLE: &str = "Invalid input: `errors` names each field and what to fix (a NUL character in a body string is `request.nul_in_body`)";
pub const UNAVAILABLE: &str =
    "The database (or another dependency) is unavailable; retry after `Retry-After` seconds";

/// One problem+json response with `description`; 401 carries `WWW-Authenticate`, 503
/// `Retry-After`.
pub fn problem_response(status: u16, description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content);
    let string = || ObjectBuilder::new().schema_type(Type::String).build();
    if status == 401 {
        response = response.header(
            "WWW-Authenticate",
            HeaderBuilder::new()
                .schema(Some(string()))
                .description(Some("`Bearer`"))
                .build(),
        );
    }
    if status == 503 {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new().schema_type(Type::Integer).build(),
                ))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        );
    }
    response.build().into()
}

/// The responses of a `(status, description)` list, keyed by status.
pub fn problems(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| (status.to_string(), problem_response(*status, description)))
        .collect()
}

/// Declares unit types implementing [`utoipa::IntoResponses`] with problem+json responses, each
/// optionally extending other such types (`Base + Other + [status => description, …]`; a status
/// listed later replaces the same status of a base). Use the type in `responses(...)`.
///
/// ```ignore
/// crate::problem_responses! {
///     /// No such template in the caller's tenant.
///     struct TemplateNotFound = [404 => "No such template in your tenant"];
///     struct Stale = TemplateNotFound + [412 => "If-Match is stale"];
/// }
/// ```
#[macro_export]
macro_rules! problem_responses {
    ($(
        $(#[$meta:meta])*
        $vis:vis struct $name:ident = $($base:ident +)* [ $($status:literal => $description:expr),* $(,)? ];
    )+) => {$(
        $(#[$meta])*
        $vis struct $name;

        impl ::utoipa::IntoResponses for $name {
            fn responses() -> ::std::collections::BTreeMap<
                String,
                ::utoipa::openapi::RefOr<::utoipa::openapi::response::Response>,
            > {
                #[allow(unused_mut)]
                let mut responses = ::std::collections::BTreeMap::new();
                $( responses.extend(<$base as ::utoipa::IntoResponses>::responses()); )*
                responses.extend($crate::platform::http::openapi::problems(&[
                    $( ($status, $description) ),*
                ]));
                responses
            }
        }
    )+};
}

crate::problem_responses! {
    /// What every `/api` operation can answer, whatever it does: 400, 401, 503.
    pub struct ApiErrors = [400 => BAD_REQUEST, 401 => UNAUTHORIZED, 503 => UNAVAILABLE];
    /// [`ApiErrors`] and 403 for operations that need the editor role.
    pub struct EditorErrors = ApiErrors + [403 => FORBIDDEN_EDITOR];
    /// [`ApiErrors`] and 403 for operations that need the admin role.
    pub struct AdminErrors = ApiErrors + [403 => FORBIDDEN_ADMIN];
    /// Operations that read a body of any media type themselves: 413 and 422.
    pub struct BodyErrors = [413 => PAYLOAD_TOO_LARGE, 422 => UNPROCESSABLE];
    /// Operations that take a JSON body (or accept only some media types): [`BodyErrors`] and 415.
    pub struct JsonBodyErrors = BodyErrors + [415 => UNSUPPORTED_MEDIA_TYPE];
}

#[cfg(test)]
mod tests {
    use utoipa::IntoResponses;

    use super::*;

    crate::problem_responses! {
        struct Specific = EditorErrors + [403 => "Only admins may force", 404 => "No such thing"];
    }

    /// The names of every `#[derive(ToSchema)]` type in `src/` with the files declaring them.
    /// utoipa keys component schemas by the bare type name, so two types with one name silently
    /// replace each other in the document (how `/readyz` once showed the quality module's shape).
    fn schema_names() -> BTreeMap<String, Vec<String>> {
        fn walk(dir: &std::path::Path, out: &mut BTreeMap<String, Vec<String>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let mut derive = String::new();
                let mut schema = false;
                let mut rename: Option<String> = None;
                for line in text.lines().map(str::trim) {
                    if line.starts_with("#[derive(") || !derive.is_empty() {
                        derive.push_str(line);
                        if line.ends_with(")]") {
                            schema |= derive.contains("ToSchema");
                            derive.clear();
                        }
                        continue;
                    }
                    if !schema {
                        continue;
                    }
                    if let Some(rest) = line.strip_prefix("#[schema(as = ") {
                        rename = Some(rest.trim_end_matches(")]").to_string());
                    }
                    let item = [
                        "pub struct ",
                        "pub enum ",
                        "pub(crate) struct ",
                        "pub(crate) enum ",
                        "struct ",
                        "enum ",
                    ]
                    .iter()
                    .find_map(|kw| line.strip_prefix(kw));
                    if let Some(item) = item {
                        let name: String = item
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        out.entry(rename.take().unwrap_or(name))
                            .or_default()
                            .push(path.display().to_string());
                        schema = false;
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut out,
        );
        out
    }

    #[test]
    fn every_schema_name_is_declared_once() {
        let names = schema_names();
        assert!(names.contains_key("Problem") && names.contains_key("DependencyCheck"));
        assert!(names.len() > 50, "the scan found only {names:?}");
        let duplicates: Vec<_> = names.iter().filter(|(_, files)| files.len() > 1).collect();
        assert!(
            duplicates.is_empty(),
            "schema names declared more than once (rename one, or `#[schema(as = …)]`): {duplicates:?}"
        );
    }

    #[test]
    fn sets_compose_and_later_statuses_replace_earlier_ones() {
        let responses = Specific::responses();
        let statuses: Vec<_> = responses.keys().map(String::as_str).collect();
        assert_eq!(statuses, ["400", "401", "403", "404", "503"]);
        let RefOr::T(forbidden) = &responses["403"] else {
            panic!("inline response expected")
        };
        assert_eq!(forbidden.description, "Only admins may force");
        assert!(forbidden.content.contains_key(PROBLEM_JSON));
        let RefOr::T(unavailable) = &responses["503"] else {
            panic!("inline response expected")
        };
        assert!(unavailable.headers.contains_key("Retry-After"));
    }
}

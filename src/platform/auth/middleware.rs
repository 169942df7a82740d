//! Reads `Authorization: Bearer …` once per request. A present but bad token is a 401 right here,
//! before routing or body parsing; a valid one becomes the request's [`Principal`].

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::{AuthService, Authenticated};
use crate::platform::http::error::ApiError;

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .cloned();
    if let Some(header) = header {
        let auth = req
            .app_data::<web::Data<AuthService>>()
            .cloned()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("AuthService not registered")))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("The Authorization header must be `Bearer <access token>`.")
            })?;
        let principal = auth.authenticate(token).await?;
        tracing::Span::current().record("tenant_id", principal.tenant_id.as_str());
        tracing::Span::current().record("user_id", principal.user_id.as_str());
        req.extensions_mut().insert(Authenticated {
            principal,
            rbac: auth.rbac(),
        });
    }
    next.call(req).await
}

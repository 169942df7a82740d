//! Reads `Authorization: Bearer …` once per request. A present but bad token is a 401 right here,
//! before routing or body parsing; a valid one becomes the request's
//! [`Principal`](crate::platform::auth::Principal).

use actix_web::ResponseError;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use super::{AuthService, Authenticated};
use crate::platform::http::error::ApiError;

pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    match resolve(&req).await {
        Ok(Some(auth)) => {
            tracing::Span::current().record("tenant_id", auth.principal.tenant_id.as_str());
            tracing::Span::current().record("user_id", auth.principal.user_id.as_str());
            req.extensions_mut().insert(auth);
        }
        Ok(None) => {}
        // Answered here (not returned as Err) so the outer middleware sees a normal response.
        Err(err) => {
            return Ok(req
                .into_response(err.error_response())
                .map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

async fn resolve(req: &ServiceRequest) -> Result<Option<Authenticated>, ApiError> {
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
        return Ok(Some(Authenticated {
            principal,
            rbac: auth.rbac(),
        }));
    }
    Ok(None)
}

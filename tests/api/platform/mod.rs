mod auth;
mod cli;
mod health;
mod http;
mod oidc;
mod openapi;
mod resilience;
mod streams;

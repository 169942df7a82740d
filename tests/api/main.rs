//! Black-box tests: a real server on a random port, spoken to over HTTP. One binary; one file
//! per area.

mod console;
mod healing;
mod helpers;
mod k8s;
mod k8s_fake;
mod platform;
mod quality;
mod support;
mod templates;
mod workflows;

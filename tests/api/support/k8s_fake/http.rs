//! The two ways in: a `tower::Service` for `kube::Client::new` (in-process), and a hyper HTTP/1.1
//! server on 127.0.0.1:0 with a kubeconfig file pointing at it (`server: http://…`, no auth) for
//! black-box tests of the whole Maestro through its kubeconfig setting. A panic while handling a
//! request becomes a 500 Status and is recorded (it must never kill kube's Buffer worker).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::FutureExt;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::api;
use super::body::{FakeBody, failure};
use super::status::ApiFailure;

/// The fake API server as a tower service (any request body that yields `Bytes`).
#[derive(Clone)]
pub struct FakeService {
    pub(crate) inner: Arc<Inner>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> tower::Service<Request<B>> for FakeService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<FakeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<FakeBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let what = format!("{} {}", parts.method, parts.uri);
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    let e: BoxError = e.into();
                    return Ok(failure(&ApiFailure::bad_request(format!(
                        "reading the request body: {e}"
                    ))));
                }
            };
            let req = Request::from_parts(parts, bytes);
            match AssertUnwindSafe(api::handle(inner.clone(), req))
                .catch_unwind()
                .await
            {
                Ok(res) => Ok(res),
                Err(panic) => {
                    let msg = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".into());
                    inner
                        .lock()
                        .failures
                        .push(format!("{what}: the fake panicked: {msg}"));
                    Ok(failure(&ApiFailure::internal(format!(
                        "the fake API server failed: {msg}"
                    ))))
                }
            }
        })
    }
}

/// The fake served over loopback HTTP. Dropping it stops the server.
pub struct FakeServer {
    pub addr: SocketAddr,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
    stop: CancellationToken,
}

impl FakeServer {
    pub(crate) async fn start(service: FakeService) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            kubeconfig_yaml(&format!("http://{addr}"), "default"),
        )?;
        let stop = CancellationToken::new();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    _ = token.cancelled() => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let svc = service.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    let hyper_svc =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let mut svc = svc.clone();
                            async move { tower::Service::call(&mut svc, req).await }
                        });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), hyper_svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = token.cancelled() => {}
                    }
                });
            }
        });
        Ok(FakeServer {
            addr,
            kubeconfig,
            _dir: dir,
            stop,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig file (context `fake`, namespace `default`, no auth) pointing at the server.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// A kube client built the way Maestro builds one: from the kubeconfig file.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(&self.kubeconfig)
            .expect("the fake's kubeconfig parses");
        let config =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("the fake's kubeconfig makes a config");
        kube::Client::try_from(config).expect("a client for the fake")
    }

    /// Stops accepting and closes open connections (watches and log streams end abruptly).
    pub fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A kubeconfig for `server` (no auth), current context `fake`.
pub fn kubeconfig_yaml(server: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {server}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\npreferences: {{}}\n"
    )
}

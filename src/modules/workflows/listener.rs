//! Cross-replica wake-ups: a dedicated libpq connection (outside the pool) that LISTENs on the
//! deployment's channel. Its socket is registered with tokio, so the task sleeps until the server
//! sends something: no polling, no queries while idle. When the connection drops, it reconnects
//! with backoff and wakes the engine once (a notification may have been missed; the engine's
//! timer covers the gap in any case).

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use crate::platform::blocking::run_blocking;

/// An owned libpq connection.
struct PgListener {
    conn: *mut pq_sys::PGconn,
}

// SAFETY: the connection is used by one task at a time (it is moved, never shared); libpq
// connections may be used from any thread as long as not concurrently.
unsafe impl Send for PgListener {}

impl Drop for PgListener {
    fn drop(&mut self) {
        // SAFETY: `conn` came from PQconnectdb and is finished exactly once.
        unsafe { pq_sys::PQfinish(self.conn) };
    }
}

impl PgListener {
    fn error(&self) -> String {
        // SAFETY: PQerrorMessage returns a NUL-terminated string owned by the connection.
        unsafe {
            let msg = pq_sys::PQerrorMessage(self.conn);
            if msg.is_null() {
                "unknown libpq error".into()
            } else {
                CStr::from_ptr(msg).to_string_lossy().trim().to_string()
            }
        }
    }

    fn connect(url: &str, channel: &str) -> anyhow::Result<PgListener> {
        let conninfo = CString::new(url)?;
        // SAFETY: conninfo is a valid C string; a non-null result is owned by PgListener.
        let conn = unsafe { pq_sys::PQconnectdb(conninfo.as_ptr()) };
        if conn.is_null() {
            anyhow::bail!("libpq could not allocate a connection");
        }
        let listener = PgListener { conn };
        // SAFETY: conn is a valid connection.
        if unsafe { pq_sys::PQstatus(conn) } != pq_sys::ConnStatusType::CONNECTION_OK {
            anyhow::bail!("cannot connect for LISTEN: {}", listener.error());
        }
        // The channel is made of [a-z0-9_] by the engine; quote it anyway.
        let sql = CString::new(format!("LISTEN \"{channel}\""))?;
        // SAFETY: valid connection and statement; the result is cleared below.
        unsafe {
            let res = pq_sys::PQexec(conn, sql.as_ptr());
            let ok = !res.is_null()
                && pq_sys::PQresultStatus(res) == pq_sys::ExecStatusType::PGRES_COMMAND_OK;
            pq_sys::PQclear(res);
            if !ok {
                anyhow::bail!("LISTEN failed: {}", listener.error());
            }
        }
        Ok(listener)
    }

    fn socket(&self) -> RawFd {
        // SAFETY: valid connection.
        unsafe { pq_sys::PQsocket(self.conn) }
    }

    /// Reads what the server sent; returns how many notifications arrived.
    fn drain(&mut self) -> anyhow::Result<usize> {
        // SAFETY: valid connection; every PGnotify returned is freed.
        unsafe {
            if pq_sys::PQconsumeInput(self.conn) == 0 {
                anyhow::bail!("the LISTEN connection failed: {}", self.error());
            }
            let mut count = 0;
            loop {
                let n = pq_sys::PQnotifies(self.conn);
                if n.is_null() {
                    break;
                }
                pq_sys::PQfreemem(n.cast());
                count += 1;
            }
            Ok(count)
        }
    }
}

impl AsRawFd for PgListener {
    fn as_raw_fd(&self) -> RawFd {
        self.socket()
    }
}

pub async fn run(engine: Engine, cancel: CancellationToken) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(200);
    while !cancel.is_cancelled() {
        let channel = match engine.resolve_channel().await {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot learn the workflow NOTIFY channel yet");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let Some(url) = engine.listen_url().map(str::to_string) else {
            return Ok(());
        };
        let connected = run_blocking("workflows.listen", move || {
            PgListener::connect(&url, &channel)
        })
        .await?;
        let listener = match connected {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "workflow wake-up listener cannot connect");
                tokio::select! {
                    _ = cancel.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        tracing::debug!("workflow wake-up listener connected");
        engine.wake();
        // SAFETY: the socket belongs to the connection the AsyncFd owns; libpq keeps the same
        // socket for the connection's life (it is never reset here), so the descriptor stays
        // open and the same until the AsyncFd, and with it the connection, is dropped.
        let mut fd = match unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }
        {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the LISTEN socket");
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        loop {
            let mut guard = tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                g = fd.readable_mut() => match g {
                    Ok(g) => g,
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN socket error");
                        break;
                    }
                },
            };
            match guard.get_inner_mut().drain() {
                Ok(n) => {
                    guard.clear_ready();
                    if n > 0 {
                        engine.wake();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "workflow wake-up listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
    Ok(())
}

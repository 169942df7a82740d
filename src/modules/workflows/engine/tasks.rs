//! The engine's background tasks: the claimer (leases due queue rows in batches up to the free
//! capacity), the completers (commit finished steps in batches, retrying on database trouble),
//! the heartbeat (renews the leases of steps in flight) and, on PostgreSQL, the listener.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::{Engine, EngineError, channel_name};
use crate::modules::workflows::dialect;
use crate::modules::workflows::machine::{self, Done};
use crate::modules::workflows::store;
use crate::platform::db::DbConnection;
use crate::platform::module::BackgroundTask;

impl Engine {
    /// The engine's background tasks (none when `workflows.engine` is false).
    pub fn tasks(&self) -> Vec<BackgroundTask> {
        if !self.inner.settings.engine {
            return Vec::new();
        }
        let mut tasks = Vec::new();
        let e = self.clone();
        tasks.push(BackgroundTask::new("workflows-claimer", move |cancel| {
            Box::pin(async move { e.claimer(cancel).await })
        }));
        for _ in 0..self.inner.settings.completers.max(1) {
            let e = self.clone();
            tasks.push(BackgroundTask::new("workflows-completer", move |cancel| {
                Box::pin(async move { e.completer(cancel).await })
            }));
        }
        let e = self.clone();
        tasks.push(BackgroundTask::new("workflows-heartbeat", move |cancel| {
            Box::pin(async move { e.heartbeat(cancel).await })
        }));
        if self.inner.settings.listen_notify && self.inner.listen_url.is_some() {
            let e = self.clone();
            tasks.push(BackgroundTask::new("workflows-listener", move |cancel| {
                Box::pin(async move { crate::modules::workflows::listener::run(e, cancel).await })
            }));
        }
        tasks
    }

    /// Learns the NOTIFY channel (PostgreSQL: per schema, since channel names are global to the
    /// database and tests run one schema each).
    pub async fn resolve_channel(&self) -> Result<Option<String>, EngineError> {
        if let Some(c) = self.channel() {
            return Ok(Some(c));
        }
        let engine = self.clone();
        self.inner
            .db
            .run(move |conn| engine.channel_for(conn))
            .await
    }

    /// The channel, learned from this connection's schema the first time (PostgreSQL only).
    pub(super) fn channel_for(
        &self,
        conn: &mut DbConnection,
    ) -> Result<Option<String>, EngineError> {
        if let Some(c) = self.channel() {
            return Ok(Some(c));
        }
        let channel = dialect::current_schema(conn)?.map(|schema| channel_name(&schema));
        if let Ok(mut slot) = self.inner.channel.lock() {
            slot.clone_from(&channel);
        }
        Ok(channel)
    }

    // -----------------------------------------------------------------------------------------
    // Claimer

    async fn claimer(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let _ = self.resolve_channel().await;
        let mut backoff = Duration::from_millis(100);
        while !cancel.is_cancelled() {
            let free = self.capacity();
            if free == 0 {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.inner.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                continue;
            }
            let limit = free.min(self.inner.settings.claim_batch_size);
            match self.claim_once(limit).await {
                Ok((n, next)) => {
                    backoff = Duration::from_millis(100);
                    if n >= limit {
                        continue;
                    }
                    let wait = self.wait_until(next);
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = self.inner.wake.notified() => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "claiming workflow steps failed");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        Ok(())
    }

    /// How long to sleep when nothing is due: until the next due row, at most `poll_interval`.
    fn wait_until(&self, next: Option<chrono::NaiveDateTime>) -> Duration {
        let poll = self.inner.poll;
        match next {
            Some(at) => machine::to_std(at - machine::now()).min(poll) + Duration::from_millis(2),
            None => poll,
        }
    }

    /// One claim transaction; returns the number of rows claimed and, when that was less than
    /// `limit`, when the next row becomes due (read in the same transaction, so an idle engine
    /// costs one read-only transaction per wake-up).
    async fn claim_once(
        &self,
        limit: usize,
    ) -> Result<(usize, Option<chrono::NaiveDateTime>), EngineError> {
        let engine = self.clone();
        let outcome = self
            .transact("engine".into(), 0, move |tx| -> Result<_, EngineError> {
                let (conn, m, _) = tx.parts();
                let now = m.now;
                let until = machine::after(now, engine.inner.lease);
                let rows = dialect::claim(
                    conn,
                    &engine.inner.owner,
                    &m.token,
                    now,
                    until,
                    limit as i64,
                )?;
                if rows.is_empty() {
                    return Ok((0, store::next_due(conn)?));
                }
                m.claim_budget = engine.capacity().saturating_sub(rows.len());
                tracing::trace!(
                    claimed = rows.len(),
                    first = rows[0].id,
                    "claimed queue rows"
                );
                let mut ids: Vec<String> = rows.iter().map(|r| r.run_id.clone()).collect();
                ids.sort();
                ids.dedup();
                tx.lock_runs(&ids, true)?;
                tx.prefetch(rows.iter().map(|r| r.step_id.clone()).collect())?;
                let retry_at = now + chrono::Duration::milliseconds(20);
                let (conn, m, runs) = tx.parts();
                for row in &rows {
                    match runs.get_mut(&row.run_id) {
                        Some(ctx) => {
                            m.claimed(conn, ctx, &row.step_id, &row.kind, row.ready_at)?;
                        }
                        // Its run is busy in another transaction (or was failed while loading):
                        // hand the row back for a moment.
                        None => {
                            store::release_claim(conn, row.id, retry_at)?;
                        }
                    }
                }
                let next = if rows.len() < limit {
                    store::next_due(conn)?
                } else {
                    None
                };
                Ok((rows.len(), next))
            })
            .await;
        if outcome.is_ok() {
            metrics::counter!("maestro_workflow_claim_transactions_total").increment(1);
        }
        outcome
    }

    // -----------------------------------------------------------------------------------------
    // Completers

    async fn completer(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let max = self.inner.settings.completion_batch_size.max(1);
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let batch = {
                let mut rx = self.inner.results_rx.lock().await;
                let first = if cancel.is_cancelled() {
                    // Shutting down: commit what is finished, give running steps a little time.
                    let deadline = *drain_deadline
                        .get_or_insert_with(|| Instant::now() + Duration::from_secs(8));
                    if self.inner.in_flight.load(Ordering::Relaxed) == 0
                        || Instant::now() >= deadline
                    {
                        match rx.try_recv() {
                            Ok(d) => d,
                            Err(_) => return Ok(()),
                        }
                    } else {
                        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
                            Ok(Some(d)) => d,
                            Ok(None) => return Ok(()),
                            Err(_) => continue,
                        }
                    }
                } else {
                    tokio::select! {
                        _ = cancel.cancelled() => continue,
                        d = rx.recv() => match d {
                            Some(d) => d,
                            None => return Ok(()),
                        },
                    }
                };
                let mut batch = vec![first];
                while batch.len() < max {
                    match rx.try_recv() {
                        Ok(d) => batch.push(d),
                        Err(_) => break,
                    }
                }
                batch
            };
            self.commit_results(batch).await;
        }
    }

    /// Commits a batch of results; retries on database trouble, then falls back to one result
    /// per transaction so one bad result cannot hold the others back.
    async fn commit_results(&self, batch: Vec<Done>) {
        let batch = Arc::new(batch);
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=6 {
            match self.complete_tx(batch.clone()).await {
                Ok(()) => {
                    self.release(&batch);
                    return;
                }
                Err(e) if attempt < 6 => {
                    tracing::warn!(error = %e, attempt, size = batch.len(), "committing step results failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    if batch.len() > 1 && attempt >= 2 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "step results could not be committed; their leases will expire and the steps run again");
                    self.release(&batch);
                    return;
                }
            }
        }
        // One by one.
        let items = match Arc::try_unwrap(batch) {
            Ok(items) => items,
            Err(shared) => {
                self.release(&shared);
                return;
            }
        };
        for done in items {
            let single = Arc::new(vec![done]);
            let mut ok = false;
            for _ in 0..3 {
                match self.complete_tx(single.clone()).await {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "committing a step result failed");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            if !ok {
                tracing::error!(run_id = %single[0].task.run_id, step_id = %single[0].task.step_id, "step result dropped after repeated failures; the step will run again when its lease expires");
            }
            self.release(&single);
        }
    }

    fn release(&self, batch: &[Done]) {
        for done in batch {
            self.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.track(&done.task.token, -1);
            self.release_run(&done.task.run_id);
        }
    }

    /// Commits results in one transaction: results whose lease is still this attempt's (fenced)
    /// are applied; the steps they unblock are claimed for this engine right away.
    async fn complete_tx(&self, batch: Arc<Vec<Done>>) -> Result<(), EngineError> {
        let budget = self.capacity() + batch.len();
        self.transact(
            "engine".into(),
            budget,
            move |tx| -> Result<(), EngineError> {
                let mut ids: Vec<String> = batch.iter().map(|d| d.task.run_id.clone()).collect();
                ids.sort();
                ids.dedup();
                tx.lock_runs(&ids, false)?;
                // The rows these results touch: the steps, what they unblock, and what those need.
                let mut wanted = Vec::new();
                {
                    let (_, _, runs) = tx.parts();
                    for done in batch.iter() {
                        if let Some(ctx) = runs.get(&done.task.run_id)
                            && let Some(i) = ctx.index(&done.task.step_id)
                        {
                            wanted.push(done.task.step_id.clone());
                            for &d in &ctx.def.steps[i].dependents {
                                wanted.push(ctx.def.steps[d].id.clone());
                                for &n in &ctx.def.steps[d].needs {
                                    wanted.push(ctx.def.steps[n].id.clone());
                                }
                            }
                        }
                    }
                }
                tx.prefetch(wanted)?;
                let (conn, m, runs) = tx.parts();
                let keys: Vec<(String, String, String)> = batch
                    .iter()
                    .map(|d| {
                        (
                            d.task.run_id.clone(),
                            d.task.step_id.clone(),
                            d.task.token.clone(),
                        )
                    })
                    .collect();
                let fenced = dialect::fence_many(conn, &keys)?;
                let mut lost = 0u64;
                for done in batch.iter() {
                    let t = &done.task;
                    if !fenced.contains(&(t.run_id.clone(), t.step_id.clone())) {
                        lost += 1;
                        continue;
                    }
                    if let Some(ctx) = runs.get_mut(&t.run_id) {
                        m.complete(conn, ctx, done)?;
                    }
                }
                if lost > 0 {
                    metrics::counter!("maestro_workflow_stale_results_total").increment(lost);
                    tracing::info!(
                        lost,
                        "results of steps whose lease was lost or whose run stopped were discarded"
                    );
                }
                Ok(())
            },
        )
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Heartbeat

    async fn heartbeat(self, cancel: CancellationToken) -> anyhow::Result<()> {
        let every = self.inner.lease / 3;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
            let tokens: Vec<String> = match self.inner.tokens.lock() {
                Ok(map) => map.keys().cloned().collect(),
                Err(_) => continue,
            };
            if tokens.is_empty() {
                continue;
            }
            let owner = self.inner.owner.clone();
            let until = machine::after(machine::now(), self.inner.lease);
            let result = self
                .inner
                .db
                .run(move |conn| {
                    store::extend_leases(conn, &owner, &tokens, until).map_err(EngineError::from)
                })
                .await;
            if let Err(e) = result {
                tracing::warn!(error = %e, "renewing workflow step leases failed");
            }
        }
    }
}

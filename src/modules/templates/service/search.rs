//! Text search through the in-process index (`templates::index`): one index per tenant, built
//! on the tenant's first text search and kept in step with the rows through the tenant's cache
//! generation.
//!
//! Freshness: every write of a template bumps the tenant's generation (`platform::cache`; with
//! Redis, other replicas hear it on the invalidation channel). A search first reads the current
//! generation (no round trip); when the index was refreshed under another one, it is refreshed
//! before answering from the tenant's change feed (`store::changes_since`): the templates
//! written since the index's watermark — an indexed read that follows the number of changes, not
//! of templates — whose rows are loaded (a missing row is a deletion). The generation is read
//! before the feed, so a write racing a refresh leaves the index under an older generation and
//! the next search refreshes again. So a write is seen by the next search on the replica that
//! made it, on other replicas as soon as the pub/sub message arrives, and — like the in-process
//! response cache — within `cache.local_ttl` while the channel is down. When the feed's counter
//! is behind the watermark (the database was restored), the index is rebuilt. Writes by other
//! programs (no feed entry, no generation bump) are seen within `templates.search_index_max_age`:
//! that old, the index compares every row's `(id, updated_at, commit, quality, status)` once.
//!
//! Memory: indexes are kept in a cache weighted by templates (`search_index_max_templates`,
//! least recently used tenants dropped first) and dropped after `search_index_idle` unused.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::TemplatesService;
use super::read::CACHE_NAMESPACE;
use crate::modules::templates::index::{Rank, TenantIndex};
use crate::modules::templates::model::TemplateSummary;
use crate::modules::templates::search::TextQuery;
use crate::modules::templates::settings::TemplatesSettings;
use crate::modules::templates::store::{self, Filter};
use crate::platform::auth::TenantId;
use crate::platform::blocking::run_blocking;
use crate::platform::http::error::ApiResult;
use crate::platform::http::pagination::{Page, PageQuery};

/// The search indexes of every tenant this replica has searched lately.
pub(super) struct SearchIndexes {
    slots: moka::sync::Cache<String, Arc<Slot>>,
    max_age: Duration,
    max_templates: u64,
}

impl SearchIndexes {
    pub(super) fn new(settings: &TemplatesSettings) -> SearchIndexes {
        let max_templates = settings.search_index_max_templates.max(1);
        let cap = u32::try_from(max_templates).unwrap_or(u32::MAX);
        SearchIndexes {
            slots: moka::sync::Cache::builder()
                .max_capacity(max_templates)
                // One tenant larger than the budget still fits, alone.
                .weigher(move |_, slot: &Arc<Slot>| {
                    u32::try_from(slot.read().index.len())
                        .unwrap_or(u32::MAX)
                        .clamp(1, cap)
                })
                .time_to_idle(settings.search_index_idle.get())
                .build(),
            max_age: settings.search_index_max_age.get(),
            max_templates,
        }
    }

    fn slot(&self, tenant: &TenantId) -> Arc<Slot> {
        self.slots
            .get_with_by_ref(tenant.as_str(), || Arc::new(Slot::default()))
    }

    /// Templates indexed now, over all tenants, and the budget.
    pub(super) fn figures(&self) -> (u64, u64) {
        self.slots.run_pending_tasks();
        (self.slots.weighted_size(), self.max_templates)
    }
}

/// One tenant's index and what it reflects.
#[derive(Default)]
struct Slot {
    /// One refresh at a time; searches that find the index stale wait for it together.
    refresh: tokio::sync::Mutex<()>,
    state: RwLock<State>,
}

#[derive(Default)]
struct State {
    index: TenantIndex,
    /// The generation the index reflects (`None`: never built).
    generation: Option<String>,
    /// When that generation was read, before the rows were.
    read_at: Option<Instant>,
    /// The last change of the feed the index reflects.
    watermark: i64,
    /// When the index was last built or compared with every row.
    reconciled_at: Option<Instant>,
}

/// How a refresh brought the index in line.
enum Refresh {
    /// Every row was read (first build, or the watermark was lost).
    Build,
    /// Every row's stamp was compared (`search_index_max_age` passed).
    Reconcile,
    /// The changes since the watermark were applied.
    Changes,
}

impl Slot {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl TemplatesService {
    /// One page of the tenant's templates matching `text` and `filter`, from the index.
    pub(super) async fn text_search(
        &self,
        tenant: &TenantId,
        text: &TextQuery,
        filter: &Filter,
        rank: Rank,
        page: &PageQuery,
    ) -> ApiResult<Page<TemplateSummary>> {
        let slot = self.current_index(tenant).await?;
        let (limit, offset) = (page.limit() as usize, page.offset() as usize);
        let (items, total) = slot.read().index.search(text, filter, rank, limit, offset);
        Ok(Page::new(items, total as i64, page))
    }

    /// The tenant's index, refreshed first if a write happened since it was.
    async fn current_index(&self, tenant: &TenantId) -> ApiResult<Arc<Slot>> {
        let indexes = &self.inner.search_indexes;
        let slot = indexes.slot(tenant);
        if self.is_current(&slot, tenant).await {
            return Ok(slot);
        }
        {
            let _one = slot.refresh.lock().await;
            // Read before the feed: a write after this point bumps it again.
            let generation = self.generation(tenant).await;
            let read_at = Instant::now();
            if !self.is_current(&slot, tenant).await {
                let reconcile = slot
                    .read()
                    .reconciled_at
                    .is_none_or(|at| at.elapsed() >= indexes.max_age);
                let refresh = self.refresh_index(tenant, &slot, reconcile).await?;
                let mut state = slot.write();
                state.generation = Some(generation);
                state.read_at = Some(read_at);
                if !matches!(refresh, Refresh::Changes) {
                    state.reconciled_at = Some(read_at);
                }
            }
        }
        // Weighed again with its new size.
        indexes.slots.insert(tenant.0.clone(), slot.clone());
        Ok(slot)
    }

    async fn generation(&self, tenant: &TenantId) -> String {
        self.inner
            .cache
            .generation_token(CACHE_NAMESPACE, tenant.as_str())
            .await
    }

    /// Whether the index reflects the tenant's current generation, within the cache's bound,
    /// and was compared with every row within `search_index_max_age`.
    async fn is_current(&self, slot: &Slot, tenant: &TenantId) -> bool {
        let (generation, read_at, reconciled_at) = {
            let state = slot.read();
            match (&state.generation, state.read_at, state.reconciled_at) {
                (Some(g), Some(at), Some(reconciled)) => (g.clone(), at, reconciled),
                _ => return false,
            }
        };
        reconciled_at.elapsed() < self.inner.search_indexes.max_age
            && self.inner.cache.trusts(read_at)
            && self.generation(tenant).await == generation
    }

    /// Brings the index in line with the rows: everything on the first build (or when the
    /// watermark is lost), every row's stamp when `reconcile`, else only the templates the
    /// change feed names.
    async fn refresh_index(
        &self,
        tenant: &TenantId,
        slot: &Arc<Slot>,
        reconcile: bool,
    ) -> ApiResult<Refresh> {
        let started = Instant::now();
        let t = tenant.clone();
        let (built, watermark) = {
            let state = slot.read();
            (state.generation.is_some(), state.watermark)
        };
        // The counter first: every change up to it is visible to the reads that follow.
        let (counter, feed) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                let counter = store::change_seq(conn, &t)?;
                let feed = if built && !reconcile && counter >= watermark {
                    store::changes_since(conn, &t, watermark)?
                } else {
                    Vec::new()
                };
                Ok((counter, feed))
            })
            .await?;
        if !built || counter < watermark {
            self.build_index(tenant, slot, counter).await?;
            tracing::debug!(tenant = %tenant.as_str(), took = ?started.elapsed(), "search index built");
            return Ok(Refresh::Build);
        }
        let (kind, changed, removed) = if reconcile {
            let (changed, removed) = self.compare_stamps(tenant, slot).await?;
            (Refresh::Reconcile, changed, removed)
        } else {
            let changed = feed.into_iter().map(|(id, _)| id).collect();
            (Refresh::Changes, changed, Vec::new())
        };
        let (n_changed, n_removed) = (changed.len(), removed.len());
        self.apply_changes(tenant, slot, changed, removed).await?;
        // The feed is read after the counter, so it holds every change up to the counter.
        slot.write().watermark = counter.max(watermark);
        let label = match kind {
            Refresh::Reconcile => "reconcile",
            _ => "changes",
        };
        metrics::counter!("maestro_templates_search_index_refreshes_total", "kind" => label)
            .increment(1);
        tracing::debug!(
            tenant = %tenant.as_str(),
            kind = label,
            changed = n_changed,
            removed = n_removed,
            took = ?started.elapsed(),
            "search index refreshed"
        );
        Ok(kind)
    }

    /// Replaces the index with one of every row, as of change `counter` (read before the rows).
    async fn build_index(
        &self,
        tenant: &TenantId,
        slot: &Arc<Slot>,
        counter: i64,
    ) -> ApiResult<()> {
        let t = tenant.clone();
        let rows = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::summaries(conn, &t, None)?) })
            .await?;
        let index = run_blocking("search.index", move || {
            let mut index = TenantIndex::new();
            for row in rows {
                index.upsert(TemplateSummary::from(row));
            }
            index
        })
        .await?;
        let mut state = slot.write();
        state.index = index;
        state.watermark = counter;
        metrics::counter!("maestro_templates_search_index_refreshes_total", "kind" => "build")
            .increment(1);
        Ok(())
    }

    /// The templates whose stamp differs from the index's (changed or new) and the indexed ones
    /// without a row: a scan of every row's stamp, for writes that left no feed entry.
    async fn compare_stamps(
        &self,
        tenant: &TenantId,
        slot: &Arc<Slot>,
    ) -> ApiResult<(Vec<String>, Vec<String>)> {
        let t = tenant.clone();
        let stamps = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::stamps(conn, &t)?) })
            .await?;
        let compared = slot.clone();
        Ok(run_blocking("search.index", move || {
            let state = compared.read();
            let index = &state.index;
            let mut changed = Vec::new();
            let mut present = std::collections::HashSet::with_capacity(stamps.len());
            for (id, updated_at, commit, quality, status) in stamps {
                let same = index.get(&id).is_some_and(|s| {
                    s.updated_at.naive_utc() == updated_at
                        && s.current_commit == commit
                        && s.quality_score == quality
                        && s.status.as_str() == status
                });
                if !same {
                    changed.push(id.clone());
                }
                present.insert(id);
            }
            let removed: Vec<String> = index
                .ids()
                .filter(|id| !present.contains(*id))
                .map(str::to_string)
                .collect();
            (changed, removed)
        })
        .await?)
    }

    /// Drops `removed` and `changed` from the index and adds the rows `changed` still has.
    async fn apply_changes(
        &self,
        tenant: &TenantId,
        slot: &Arc<Slot>,
        changed: Vec<String>,
        removed: Vec<String>,
    ) -> ApiResult<()> {
        if changed.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let rows = if changed.is_empty() {
            Vec::new()
        } else {
            let (t, ids) = (tenant.clone(), changed.clone());
            self.inner
                .db
                .run(move |conn| -> ApiResult<_> { Ok(store::summaries(conn, &t, Some(&ids))?) })
                .await?
        };
        let applied = slot.clone();
        run_blocking("search.index", move || {
            let mut state = applied.write();
            // Changed ids that no row came back for were deleted.
            for id in removed.iter().chain(&changed) {
                state.index.remove(id);
            }
            for row in rows {
                state.index.upsert(TemplateSummary::from(row));
            }
        })
        .await?;
        Ok(())
    }
}

/// How long change-feed entries are kept: ten times `search_index_max_age`, at least ten
/// minutes. An index reads the feed only within `search_index_max_age` of its last full
/// comparison with the rows, from a watermark read at or after it, so every entry committed
/// longer ago than that is behind every watermark still in use; the margin covers transactions
/// that commit long after they wrote their entry and replicas whose clocks disagree.
pub(super) fn feed_retention(max_age: Duration) -> Duration {
    max_age.saturating_mul(10).max(Duration::from_secs(600))
}

impl TemplatesService {
    /// Deletes the change-feed entries older than the feed's retention (`feed_retention`), every
    /// tenant's, which no search index can need any more; returns how many. The templates module
    /// runs it every `search_index_max_age`.
    pub async fn prune_change_feed(&self) -> ApiResult<usize> {
        let keep = feed_retention(self.inner.search_indexes.max_age);
        let before = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|keep| chrono::Utc::now().naive_utc().checked_sub_signed(keep));
        let Some(before) = before else {
            return Ok(0);
        };
        let pruned = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> { Ok(store::prune_changes(conn, before)?) })
            .await?;
        metrics::counter!("maestro_templates_change_feed_pruned_total").increment(pruned as u64);
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries outlive by far the longest an index may go on reading the feed without a full
    /// comparison, and never less than ten minutes.
    #[test]
    fn the_feed_is_kept_well_beyond_the_index_max_age() {
        let minute = Duration::from_secs(60);
        assert_eq!(feed_retention(minute), 10 * minute);
        assert_eq!(feed_retention(Duration::from_secs(1)), 10 * minute);
        assert_eq!(feed_retention(60 * minute), 600 * minute);
        assert!(feed_retention(Duration::MAX) >= Duration::from_secs(600));
    }
}

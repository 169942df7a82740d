//! Reads: one template (summary, detail, content, a file), lists and search (cached per tenant
//! generation), history (versions, a version's content, diffs) and the module's figures.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{TemplatesService, file_entry};
use crate::modules::templates::archive;
use crate::modules::templates::error::TemplatesError;
use crate::modules::templates::git;
use crate::modules::templates::index::Rank;
use crate::modules::templates::model::{
    CategoryCount, DiffView, ListQuery, SearchBody, TemplateDetail, TemplateStatus,
    TemplateSummary, VersionContent, VersionView,
};
use crate::modules::templates::search::{self, TextQuery};
use crate::modules::templates::store::{self, Filter, SortKey, TemplateRow};
use crate::platform::auth::{Role, TenantId};
use crate::platform::cache::{CachedBody, Reach, Tier};
use crate::platform::http::error::{ApiError, ApiResult, FieldError};
use crate::platform::http::pagination::{Page, PageQuery};
use crate::render::{self, MANIFEST_FILE, SourceFile};

/// The templates' namespace in the platform cache (generations are per tenant in it).
pub(super) const CACHE_NAMESPACE: &str = "templates";

/// A template's content at one commit (what the quality module scores).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateContent {
    pub template_id: String,
    pub commit: String,
    /// The manifest as JSON.
    pub manifest: Value,
    pub files: Vec<SourceFile>,
}

/// Hits and misses of the templates' cached reads since start.
#[derive(Default)]
pub(super) struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl TemplatesService {
    // ----- cache -----

    /// A write: every cached read of the tenant is stale from now on (on every replica; see
    /// `platform::cache` for the bound).
    pub(super) async fn invalidate(&self, tenant: &TenantId) {
        self.inner
            .cache
            .bump(CACHE_NAMESPACE, tenant.as_str())
            .await;
    }

    /// The serialised answer for `key`, from the cache or `compute` (then cached).
    async fn cached<F, Fut>(
        &self,
        tenant: &TenantId,
        key: &str,
        reach: Reach,
        compute: F,
    ) -> ApiResult<Arc<CachedBody>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<CachedBody>>,
    {
        let (body, tier) = self
            .inner
            .cache
            .response(CACHE_NAMESPACE, tenant.as_str(), key, reach, compute)
            .await?;
        let (counter, result) = match tier {
            Tier::Computed => (&self.inner.cache_figures.misses, "miss"),
            Tier::Local | Tier::Shared => (&self.inner.cache_figures.hits, "hit"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("maestro_templates_cache_lookups_total", "result" => result).increment(1);
        Ok(body)
    }

    /// Hit ratio of the templates' cached reads since start.
    pub fn cache_hit_ratio(&self) -> (u64, u64, f64) {
        let hits = self.inner.cache_figures.hits.load(Ordering::Relaxed);
        let misses = self.inner.cache_figures.misses.load(Ordering::Relaxed);
        let total = hits + misses;
        let ratio = if total == 0 {
            0.0
        } else {
            hits as f64 / total as f64
        };
        (hits, misses, ratio)
    }

    // ----- reads -----

    pub(super) async fn row(&self, tenant: &TenantId, id: &str) -> ApiResult<TemplateRow> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.inner
            .db
            .run(move |conn| -> ApiResult<Option<TemplateRow>> {
                Ok(store::find(conn, &tenant, &id)?)
            })
            .await?
            .ok_or_else(|| TemplatesError::not_found().into())
    }

    /// The template's summary.
    pub async fn get(&self, tenant: &TenantId, id: &str) -> ApiResult<TemplateSummary> {
        Ok(TemplateSummary::from(&self.row(tenant, id).await?))
    }

    /// The template with this name in the tenant.
    pub async fn find_by_name(&self, tenant: &TenantId, name: &str) -> ApiResult<TemplateSummary> {
        let (t, n) = (tenant.clone(), name.to_string());
        let row = self
            .inner
            .db
            .run(move |conn| -> ApiResult<Option<TemplateRow>> {
                Ok(store::find_by_name(conn, &t, &n)?)
            })
            .await?
            .ok_or_else(|| TemplatesError::NotFound {
                name: Some(name.to_string()),
            })?;
        Ok(TemplateSummary::from(&row))
    }

    /// By id, or else by name (workflow steps accept either).
    pub async fn get_by_id_or_name(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> ApiResult<TemplateSummary> {
        match self.get(tenant, key).await {
            Ok(t) => Ok(t),
            Err(e) if e.status.as_u16() == 404 => self.find_by_name(tenant, key).await,
            Err(e) => Err(e),
        }
    }

    /// Metadata, parameter schema and file list (with contents when asked).
    pub async fn detail(
        &self,
        tenant: &TenantId,
        id: &str,
        include_content: bool,
    ) -> ApiResult<TemplateDetail> {
        decode(&*self.detail_response(tenant, id, include_content).await?)
    }

    /// [`TemplatesService::detail`] serialised, with the current commit as its tag; served from
    /// the cache.
    pub async fn detail_response(
        &self,
        tenant: &TenantId,
        id: &str,
        include_content: bool,
    ) -> ApiResult<Arc<CachedBody>> {
        let key = format!(
            "detail:{id}:{}",
            if include_content { "content" } else { "list" }
        );
        self.cached(tenant, &key, Reach::Shared, || async {
            let detail = self.detail_uncached(tenant, id, include_content).await?;
            let commit = detail.template.current_commit.clone();
            Ok(CachedBody::json(&detail, Some(commit))
                .map_err(ApiError::internal)?
                .restricted(detail.template.status == TemplateStatus::Draft))
        })
        .await
    }

    async fn detail_uncached(
        &self,
        tenant: &TenantId,
        id: &str,
        include_content: bool,
    ) -> ApiResult<TemplateDetail> {
        let row = self.row(tenant, id).await?;
        self.detail_of(tenant, row, include_content).await
    }

    pub(super) async fn detail_of(
        &self,
        tenant: &TenantId,
        row: TemplateRow,
        include_content: bool,
    ) -> ApiResult<TemplateDetail> {
        let commit = row.current_commit.clone();
        let template_id = row.id.clone();
        let files = self
            .with_repo(tenant, move |repo| {
                let commit = git::parse_commit(repo, &commit).ok_or_else(|| {
                    anyhow::anyhow!("commit {commit} of template {template_id} is missing")
                })?;
                Ok(git::template_files(repo, commit, &template_id)?
                    .unwrap_or_default()
                    .iter()
                    .map(|f| file_entry(f, include_content))
                    .collect::<Vec<_>>())
            })
            .await?;
        Ok(TemplateDetail {
            template: TemplateSummary::from(&row),
            manifest: serde_json::from_str(&row.manifest).unwrap_or(Value::Null),
            parameters: serde_json::from_str(&row.parameters).unwrap_or(Value::Array(Vec::new())),
            files,
            gate: None,
            changed: None,
        })
    }

    /// The template's content at `commit` (default: current) — what the quality module scores.
    pub async fn get_content(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: Option<&str>,
    ) -> ApiResult<TemplateContent> {
        let row = self.row(tenant, template_id).await?;
        let wanted = match commit {
            Some(c) => self.resolve_commit(tenant, &row, c).await?,
            None => row.current_commit.clone(),
        };
        let files = self.files_at(tenant, &row.id, &wanted).await?;
        let manifest = manifest_of(&files)
            .unwrap_or_else(|| serde_json::from_str(&row.manifest).unwrap_or(Value::Null));
        Ok(TemplateContent {
            template_id: row.id,
            commit: wanted,
            manifest,
            files,
        })
    }

    /// The template's files at a commit; 422 when the template does not exist there.
    pub(super) async fn files_at(
        &self,
        tenant: &TenantId,
        template_id: &str,
        commit: &str,
    ) -> ApiResult<Vec<SourceFile>> {
        let (id, c) = (template_id.to_string(), commit.to_string());
        self.with_repo(tenant, move |repo| {
            let oid =
                git::parse_commit(repo, &c).ok_or_else(|| anyhow::anyhow!("unknown commit {c}"))?;
            git::template_files(repo, oid, &id)
        })
        .await?
        .ok_or_else(|| {
            TemplatesError::NotInCommit {
                commit: commit.to_string(),
            }
            .into()
        })
    }

    /// Resolves a commit given by a caller: a full id of this repository, or a unique prefix
    /// (7+ hex characters) of a commit in the template's history.
    pub(super) async fn resolve_commit(
        &self,
        tenant: &TenantId,
        row: &TemplateRow,
        raw: &str,
    ) -> ApiResult<String> {
        let raw = raw.trim().to_ascii_lowercase();
        let bad = || {
            ApiError::validation(
                "Bad commit id.",
                vec![FieldError::new(
                    "commit",
                    "give a commit id (40 hex characters) or a unique prefix of at least 7",
                )],
            )
        };
        if raw.len() < 7 || raw.len() > 40 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let (id, inner, tenant_id) = (row.id.clone(), self.inner.clone(), tenant.0.clone());
        let found = self
            .with_repo(tenant, move |repo| {
                if raw.len() == 40 {
                    return Ok(git::parse_commit(repo, &raw)
                        .map(|c| vec![c.to_string()])
                        .unwrap_or_default());
                }
                // Two matches already make the prefix ambiguous.
                Ok(inner
                    .git
                    .changes(&tenant_id, repo, &id)?
                    .iter()
                    .map(|change| change.commit.to_string())
                    .filter(|commit| commit.starts_with(&raw))
                    .take(2)
                    .collect::<Vec<_>>())
            })
            .await?;
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(TemplatesError::CommitNotFound.into()),
            _ => Err(ApiError::validation(
                "Ambiguous commit prefix.",
                vec![FieldError::new(
                    "commit",
                    "the prefix matches several commits; give more characters",
                )],
            )),
        }
    }

    /// A 404 when the template is hidden from a caller acting with `role` (a draft, for a
    /// viewer; see [`TemplateStatus::hidden_from`]).
    pub async fn ensure_visible(&self, tenant: &TenantId, role: Role, id: &str) -> ApiResult<()> {
        Self::check_visible(&self.get(tenant, id).await?, role)
    }

    /// [`TemplatesService::ensure_visible`] for a template already read.
    pub fn check_visible(template: &TemplateSummary, role: Role) -> ApiResult<()> {
        if template.status.hidden_from(role) {
            return Err(TemplatesError::not_found().into());
        }
        Ok(())
    }

    /// A page of the tenant's templates (filters of `GET /api/v1/templates`); cached.
    /// `published_only` leaves drafts out (viewers).
    pub async fn list(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
        published_only: bool,
    ) -> ApiResult<Page<TemplateSummary>> {
        decode(&*self.list_response_as(tenant, query, published_only).await?)
    }

    /// [`TemplatesService::list`] serialised; served from the cache.
    pub async fn list_response_as(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
        published_only: bool,
    ) -> ApiResult<Arc<CachedBody>> {
        let body = SearchBody {
            query: query.text.clone(),
            category: query.category.clone(),
            tags: query
                .tags
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            author: None,
            min_quality: query.min_quality,
            sort: query.sort.clone(),
            limit: query.limit,
            offset: query.offset,
        };
        // The list's parameter for the text is `text`.
        let answer = if published_only {
            self.search_response_published(tenant, &body).await
        } else {
            self.search_response(tenant, &body).await
        };
        answer.map_err(|mut e| {
            for field in &mut e.errors {
                if field.field == "query" {
                    field.field = "text".into();
                }
            }
            e
        })
    }

    /// Search by text, category, tags, author and quality; text through the in-process search
    /// index, ranked by relevance unless sorted otherwise; cached.
    pub async fn search(
        &self,
        tenant: &TenantId,
        body: &SearchBody,
    ) -> ApiResult<Page<TemplateSummary>> {
        decode(&*self.search_response(tenant, body).await?)
    }

    /// [`TemplatesService::search`] serialised; served from the cache.
    pub async fn search_response(
        &self,
        tenant: &TenantId,
        body: &SearchBody,
    ) -> ApiResult<Arc<CachedBody>> {
        let plan = SearchPlan::new(body)?;
        let key = plan.key.clone();
        self.cached(tenant, &key, plan.reach(), || async {
            let page = self.run_search(tenant, plan).await?;
            CachedBody::json(&page, None).map_err(ApiError::internal)
        })
        .await
    }

    /// [`TemplatesService::search_response`] for a viewer: drafts left out (cached apart).
    pub async fn search_response_published(
        &self,
        tenant: &TenantId,
        body: &SearchBody,
    ) -> ApiResult<Arc<CachedBody>> {
        let mut plan = SearchPlan::new(body)?;
        plan.filter.published_only = true;
        plan.key.push_str(":published");
        let key = plan.key.clone();
        self.cached(tenant, &key, plan.reach(), || async {
            let page = self.run_search(tenant, plan).await?;
            CachedBody::json(&page, None).map_err(ApiError::internal)
        })
        .await
    }

    /// Like [`TemplatesService::search`], without the response cache: text from the search
    /// index, other lists from the database (benchmarks, diagnostics).
    pub async fn search_uncached(
        &self,
        tenant: &TenantId,
        body: &SearchBody,
    ) -> ApiResult<Page<TemplateSummary>> {
        self.run_search(tenant, SearchPlan::new(body)?).await
    }

    async fn run_search(
        &self,
        tenant: &TenantId,
        plan: SearchPlan,
    ) -> ApiResult<Page<TemplateSummary>> {
        let SearchPlan {
            filter,
            text,
            sort,
            page,
            ..
        } = plan;
        if let Some(text) = &text {
            let rank = match sort {
                (Some(key), descending) => Rank::By(key, descending),
                (None, _) => Rank::Relevance,
            };
            return self.text_search(tenant, text, &filter, rank, &page).await;
        }
        // Relevance without text: its tie-breakers alone.
        let (key, descending) = match sort {
            (Some(key), descending) => (key, descending),
            (None, _) => (SortKey::Quality, true),
        };
        let t = tenant.clone();
        self.inner
            .db
            .page(
                &page,
                move |conn, limit, offset| {
                    Ok(store::list(
                        conn, &t, &filter, key, descending, limit, offset,
                    )?)
                },
                TemplateSummary::from,
            )
            .await
    }

    /// Templates per category in the tenant.
    pub async fn categories(&self, tenant: &TenantId, role: Role) -> ApiResult<Vec<CategoryCount>> {
        let t = tenant.clone();
        let published_only = TemplateStatus::only_published_for(role);
        let counts: BTreeMap<String, i64> = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok(store::count_by_category(conn, Some(&t), published_only)?)
            })
            .await?
            .into_iter()
            .collect();
        let mut out: Vec<CategoryCount> = render::CATEGORIES
            .iter()
            .map(|c| CategoryCount {
                category: c.to_string(),
                count: counts.get(*c).copied().unwrap_or(0),
            })
            .collect();
        for (category, count) in counts {
            if !render::CATEGORIES.contains(&category.as_str()) {
                out.push(CategoryCount { category, count });
            }
        }
        Ok(out)
    }

    // ----- history -----

    pub async fn versions(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageQuery,
    ) -> ApiResult<Page<VersionView>> {
        let row = self.row(tenant, id).await?;
        let (limit, offset) = (page.limit() as usize, page.offset() as usize);
        let (template_id, inner, tenant_id) =
            (row.id.clone(), self.inner.clone(), tenant.0.clone());
        let (views, total) = self
            .with_repo(tenant, move |repo| {
                // The changes are walked once per branch tip (trees only; `total` counts them
                // all); commit messages and manifests are read for the page alone.
                let changes = inner.git.changes(&tenant_id, repo, &template_id)?;
                let total = changes.len();
                let mut views = Vec::new();
                for change in changes.iter().skip(offset).take(limit) {
                    let record = git::describe(repo, *change)?;
                    let version =
                        git::template_file(repo, record.commit, &template_id, MANIFEST_FILE)?
                            .and_then(|f| render::Manifest::parse(&f.content).ok())
                            .map(|m| m.version);
                    views.push(VersionView {
                        commit: record.commit.to_string(),
                        parent: record.parent.map(|p| p.to_string()),
                        change: match record.change {
                            git::Change::Added => "created",
                            git::Change::Modified => "updated",
                            git::Change::Removed => "deleted",
                        }
                        .to_string(),
                        version,
                        message: record.summary,
                        author: record.author_name,
                        author_email: record.author_email,
                        created_at: record.time,
                    });
                }
                Ok((views, total))
            })
            .await?;
        Ok(Page::new(views, total as i64, page))
    }

    pub async fn version_content(
        &self,
        tenant: &TenantId,
        id: &str,
        commit: &str,
    ) -> ApiResult<VersionContent> {
        let row = self.row(tenant, id).await?;
        let commit = self.resolve_commit(tenant, &row, commit).await?;
        let files = self.files_at(tenant, &row.id, &commit).await?;
        let manifest = manifest_of(&files).unwrap_or(Value::Null);
        Ok(VersionContent {
            template_id: row.id,
            commit,
            manifest,
            files: files.iter().map(|f| file_entry(f, true)).collect(),
        })
    }

    /// Unified diff of the template between two commits.
    pub async fn diff(
        &self,
        tenant: &TenantId,
        id: &str,
        from: &str,
        to: Option<&str>,
    ) -> ApiResult<DiffView> {
        let row = self.row(tenant, id).await?;
        let from = self.resolve_commit(tenant, &row, from).await?;
        let to = match to {
            Some(t) => self.resolve_commit(tenant, &row, t).await?,
            None => row.current_commit.clone(),
        };
        let (template_id, f, t) = (row.id.clone(), from.clone(), to.clone());
        let (old, new) = self
            .with_repo(tenant, move |repo| {
                let f =
                    git::parse_commit(repo, &f).ok_or_else(|| anyhow::anyhow!("unknown commit"))?;
                let t =
                    git::parse_commit(repo, &t).ok_or_else(|| anyhow::anyhow!("unknown commit"))?;
                Ok((
                    git::template_files(repo, f, &template_id)?.unwrap_or_default(),
                    git::template_files(repo, t, &template_id)?.unwrap_or_default(),
                ))
            })
            .await?;
        Ok(crate::modules::templates::diff::diff_files(
            &row.id, &from, &to, &old, &new,
        ))
    }

    /// One file of the template (current version or `version`).
    pub async fn file(
        &self,
        tenant: &TenantId,
        id: &str,
        path: &str,
        version: Option<&str>,
    ) -> ApiResult<(SourceFile, String)> {
        let row = self.row(tenant, id).await?;
        let path = archive::check_path(path)?;
        let commit = match version {
            Some(v) => self.resolve_commit(tenant, &row, v).await?,
            None => row.current_commit.clone(),
        };
        let (template_id, c, p) = (row.id.clone(), commit.clone(), path.clone());
        let file = self
            .with_repo(tenant, move |repo| {
                let oid =
                    git::parse_commit(repo, &c).ok_or_else(|| anyhow::anyhow!("unknown commit"))?;
                git::template_file(repo, oid, &template_id, &p)
            })
            .await?
            .ok_or_else(|| TemplatesError::FileNotFound { path: path.clone() })?;
        Ok((file, commit))
    }

    // ----- figures -----

    pub async fn count_all(&self) -> ApiResult<i64> {
        self.inner
            .db
            .run(|conn| -> ApiResult<i64> { Ok(store::count_all(conn)?) })
            .await
    }

    pub async fn counts_by_category(&self) -> ApiResult<Vec<(String, i64)>> {
        self.inner
            .db
            .run(|conn| -> ApiResult<_> { Ok(store::count_by_category(conn, None, false)?) })
            .await
    }

    /// The templates section of `/api/v1/admin/stats`.
    pub async fn stats(&self, tenant: &TenantId) -> ApiResult<Value> {
        let t = tenant.clone();
        let (by_category, instantiations, average_quality, repo) = self
            .inner
            .db
            .run(move |conn| -> ApiResult<_> {
                Ok((
                    store::count_by_category(conn, Some(&t), false)?,
                    store::count_instantiations(conn, &t)?,
                    store::average_quality(conn, &t)?,
                    store::find_repo(conn, &t)?,
                ))
            })
            .await?;
        let total: i64 = by_category.iter().map(|(_, n)| n).sum();
        let categories: Map<String, Value> = by_category
            .into_iter()
            .map(|(c, n)| (c, json!(n)))
            .collect();
        let (hits, misses, ratio) = self.cache_hit_ratio();
        let (indexed, max_indexed) = self.inner.search_indexes.figures();
        Ok(json!({
            "total": total,
            "by_category": categories,
            "instantiations": instantiations,
            "average_quality": average_quality,
            "git": {
                "head": repo.as_ref().and_then(|r| r.head_commit.clone()),
                "remote": repo.as_ref().and_then(|r| r.remote_url.as_deref().map(crate::platform::git_remote::shown)),
                "last_sync_status": repo.as_ref().and_then(|r| r.last_sync_status.clone()),
            },
            "cache": {"hits": hits, "misses": misses, "hit_ratio": ratio},
            "search_index": {"templates": indexed, "max_templates": max_indexed},
        }))
    }
}

/// A cached answer read back as a value (for in-process callers).
fn decode<T: serde::de::DeserializeOwned>(cached: &CachedBody) -> ApiResult<T> {
    serde_json::from_slice(&cached.body).map_err(ApiError::internal)
}

/// The parsed `manifest.yaml` of a file set, as JSON.
fn manifest_of(files: &[SourceFile]) -> Option<Value> {
    files
        .iter()
        .find(|f| f.path == MANIFEST_FILE)
        .and_then(|f| render::Manifest::parse(&f.content).ok())
        .and_then(|m| serde_json::to_value(m).ok())
}

/// A validated search: filters, text, order (`None`: relevance), page, cache key.
#[derive(Debug, Clone)]
struct SearchPlan {
    key: String,
    filter: Filter,
    text: Option<TextQuery>,
    sort: (Option<SortKey>, bool),
    page: PageQuery,
}

impl SearchPlan {
    /// A text search is answered by the in-process index faster than Redis answers a `GET`, so
    /// its pages stay in this replica's cache; a search without text reads the database.
    fn reach(&self) -> Reach {
        if self.text.is_some() {
            Reach::Local
        } else {
            Reach::Shared
        }
    }

    fn new(body: &SearchBody) -> ApiResult<SearchPlan> {
        check_category(&body.category)?;
        if let Some(q) = body.min_quality
            && !(0.0..=100.0).contains(&q)
        {
            return Err(ApiError::validation(
                "min_quality is out of range.",
                vec![FieldError::new("min_quality", "must be between 0 and 100")],
            ));
        }
        let text = search::parse(body.query.as_deref().unwrap_or_default())?;
        let sort = parse_sort(body.sort.as_deref(), text.is_some())?;
        let key_material = serde_json::to_string(body).unwrap_or_default();
        Ok(SearchPlan {
            key: format!(
                "search:{}",
                hex::encode(Sha256::digest(key_material.as_bytes()))
            ),
            filter: Filter {
                category: body.category.clone(),
                tags: body
                    .tags
                    .iter()
                    .map(|t| t.trim().to_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect(),
                min_quality: body.min_quality,
                author: body.author.clone().filter(|a| !a.trim().is_empty()),
                published_only: false,
            },
            text,
            sort,
            page: PageQuery {
                limit: body.limit,
                offset: body.offset,
            },
        })
    }
}

/// Sort order from a `sort` parameter.
fn parse_sort(raw: Option<&str>, has_query: bool) -> Result<(Option<SortKey>, bool), ApiError> {
    let raw = raw.map(str::trim).filter(|s| !s.is_empty());
    let Some(raw) = raw else {
        return Ok(if has_query {
            (None, true)
        } else {
            (Some(SortKey::Updated), true)
        });
    };
    let (descending, key) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let key = match key {
        "relevance" => return Ok((None, true)),
        "name" => SortKey::Name,
        "updated" | "updated_at" => SortKey::Updated,
        "created" | "created_at" => SortKey::Created,
        "quality" | "quality_score" => SortKey::Quality,
        other => {
            return Err(ApiError::validation(
                "Unknown sort order.",
                vec![FieldError::new(
                    "sort",
                    format!(
                        "`{other}` is not one of relevance, name, updated, created, quality (prefix `-` for descending)"
                    ),
                )],
            ));
        }
    };
    Ok((Some(key), descending))
}

fn check_category(category: &Option<String>) -> Result<(), ApiError> {
    if let Some(c) = category
        && !render::CATEGORIES.contains(&c.as_str())
    {
        return Err(ApiError::validation(
            "Unknown category.",
            vec![FieldError::new(
                "category",
                format!(
                    "`{c}` is not a category; use one of: {}",
                    render::CATEGORIES.join(", ")
                ),
            )],
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_parse() {
        assert_eq!(parse_sort(None, true).unwrap(), (None, true));
        assert_eq!(
            parse_sort(None, false).unwrap(),
            (Some(SortKey::Updated), true)
        );
        assert_eq!(
            parse_sort(Some("-quality"), false).unwrap(),
            (Some(SortKey::Quality), true)
        );
        assert!(parse_sort(Some("size"), false).is_err());
    }
}

-- One row per scored template version (commit); the history endpoint reads it.
CREATE TABLE quality_scores (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    template_name TEXT NOT NULL,
    version TEXT NOT NULL,
    category TEXT NOT NULL,
    score BIGINT NOT NULL,
    passed BOOLEAN NOT NULL,
    evaluation TEXT NOT NULL,
    forced_by TEXT,
    forced_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, template_id, commit_id)
);
CREATE INDEX quality_scores_history_idx ON quality_scores (tenant_id, template_id, created_at);
CREATE INDEX quality_scores_trend_idx ON quality_scores (tenant_id, created_at);

-- The current score of each live template: what reports and metrics aggregate.
CREATE TABLE quality_latest (
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    category TEXT NOT NULL,
    score BIGINT NOT NULL,
    passed BOOLEAN NOT NULL,
    failing_checks TEXT NOT NULL,
    warning_checks TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, template_id)
);
CREATE INDEX quality_latest_category_idx ON quality_latest (tenant_id, category);

-- Publishes an admin forced past the regression gate: who, why, and the scores involved.
CREATE TABLE quality_overrides (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    previous_commit TEXT,
    commit_id TEXT,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    reason TEXT NOT NULL,
    previous_score BIGINT NOT NULL,
    new_score BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX quality_overrides_template_idx ON quality_overrides (tenant_id, template_id, created_at);

-- Healing proposals: every strategy's answer to a heal request (abstentions too, so abstain
-- rates are real), what happened to it (applied, rejected, verified, false heal), and the
-- repositories patches are applied to.

CREATE TABLE healing_healings (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    failure_id TEXT NOT NULL REFERENCES healing_failures (id) ON DELETE CASCADE,
    test_id TEXT NOT NULL REFERENCES healing_tests (id) ON DELETE CASCADE,
    -- One heal request's proposals share it; `chosen` marks the one to act on.
    request_id TEXT NOT NULL,
    chosen BOOLEAN NOT NULL,
    strategy TEXT NOT NULL,
    action TEXT NOT NULL,
    patch TEXT,
    config TEXT,
    confidence DOUBLE NOT NULL,
    evidence TEXT NOT NULL,
    risk TEXT NOT NULL,
    abstain_reason TEXT,
    -- proposed | applied | rejected | verified | false_heal | abstained
    status TEXT NOT NULL,
    -- The commit the failure was seen at.
    failure_commit TEXT,
    branch TEXT,
    commit_sha TEXT,
    quarantine_id TEXT,
    detail TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    decided_by TEXT,
    decided_at TIMESTAMP,
    verified_at TIMESTAMP,
    time_to_green_ms BIGINT,
    false_heal_at TIMESTAMP
);
CREATE INDEX healing_healings_list_idx ON healing_healings (tenant_id, created_at);
CREATE INDEX healing_healings_test_idx ON healing_healings (tenant_id, test_id, status);
CREATE INDEX healing_healings_failure_idx ON healing_healings (tenant_id, failure_id);
CREATE INDEX healing_healings_strategy_idx ON healing_healings (tenant_id, strategy, status);

-- A project's git repository: where patches go (a branch with one commit, never the default
-- branch). `secret` (password or token) is used for https remotes and never returned.
CREATE TABLE healing_repositories (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    url TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    username TEXT,
    secret TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, project)
);

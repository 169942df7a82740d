-- The healing module: ingested test runs, the tests they name (one row per normalised identity
-- per project, so history joins across runs), one result per test per report, and the
-- failures with their bounded evidence.

-- One uploaded report set (one CI run attempt): where it came from and its recomputed counts.
CREATE TABLE healing_reports (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    commit_sha TEXT,
    branch TEXT,
    ci_run_id TEXT,
    attempt BIGINT NOT NULL,
    source TEXT NOT NULL,
    framework TEXT NOT NULL,
    files BIGINT NOT NULL,
    tests BIGINT NOT NULL,
    passed BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    skipped BIGINT NOT NULL,
    flaky BIGINT NOT NULL,
    duration_ms BIGINT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX healing_reports_project_idx ON healing_reports (tenant_id, project, created_at);

-- A test, by normalised identity (framework, scope, classname, name with parameters);
-- identity_hash is the sha-256 of that tuple.
CREATE TABLE healing_tests (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    identity_hash TEXT NOT NULL,
    framework TEXT NOT NULL,
    scope TEXT NOT NULL,
    classname TEXT NOT NULL,
    name TEXT NOT NULL,
    file TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, project, identity_hash)
);

-- One test's outcome in one report (retries folded in: `attempts`, outcome `flaky`).
CREATE TABLE healing_results (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    report_id TEXT NOT NULL REFERENCES healing_reports (id) ON DELETE CASCADE,
    test_id TEXT NOT NULL REFERENCES healing_tests (id) ON DELETE CASCADE,
    commit_sha TEXT,
    branch TEXT,
    outcome TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    duration_ms BIGINT,
    created_at TIMESTAMP NOT NULL
);
-- A test's history, newest first.
CREATE INDEX healing_results_test_idx ON healing_results (tenant_id, test_id, created_at);
-- Flaky detection over one project's recent window reads only this index (covering: commit,
-- test and outcome are in it), so it stays an index range scan at millions of results.
CREATE INDEX healing_results_window_idx
    ON healing_results (tenant_id, project, created_at, test_id, commit_sha, outcome);
CREATE INDEX healing_results_report_idx ON healing_results (report_id);

-- A failed (or flaky) result's evidence: the first failing attempt's message, type and body,
-- every attempt as JSON, output capped as head + tail.
CREATE TABLE healing_failures (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    report_id TEXT NOT NULL REFERENCES healing_reports (id) ON DELETE CASCADE,
    result_id TEXT NOT NULL REFERENCES healing_results (id) ON DELETE CASCADE,
    test_id TEXT NOT NULL REFERENCES healing_tests (id) ON DELETE CASCADE,
    outcome TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT,
    failure_type TEXT,
    body TEXT NOT NULL,
    system_out TEXT,
    system_err TEXT,
    attempts_json TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX healing_failures_project_idx ON healing_failures (tenant_id, project, created_at);
CREATE INDEX healing_failures_test_idx ON healing_failures (tenant_id, test_id, created_at);
CREATE INDEX healing_failures_recent_idx ON healing_failures (tenant_id, created_at);

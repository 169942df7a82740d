-- Quarantined tests: they keep running but stop blocking. One active entry per test (released_at
-- IS NULL); an entry ends when released or past expires_at.
CREATE TABLE healing_quarantine (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    test_id TEXT NOT NULL REFERENCES healing_tests (id) ON DELETE CASCADE,
    owner TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    released_at TIMESTAMP,
    released_by TEXT
);
CREATE UNIQUE INDEX healing_quarantine_active_idx ON healing_quarantine (tenant_id, test_id)
    WHERE released_at IS NULL;
CREATE INDEX healing_quarantine_project_idx
    ON healing_quarantine (tenant_id, project, released_at, expires_at);

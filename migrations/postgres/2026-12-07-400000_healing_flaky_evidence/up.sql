-- Flaky detection at millions of results: the tests that have shown flaky evidence (a result
-- folded as flaky, or a commit whose results disagree), kept up to date at ingest, so that a
-- project's flaky list reads only those tests' windows instead of the whole project's.
CREATE TABLE healing_flaky_evidence (
    tenant_id TEXT NOT NULL,
    project TEXT NOT NULL,
    test_id TEXT NOT NULL REFERENCES healing_tests (id) ON DELETE CASCADE,
    last_evidence_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, test_id)
);
CREATE INDEX healing_flaky_evidence_project_idx
    ON healing_flaky_evidence (tenant_id, project, last_evidence_at);

-- Every test that has ever failed or been flaky: a superset of the evidence above (a
-- disagreeing commit needs a failing result), so no flaky test is lost on upgrade.
INSERT INTO healing_flaky_evidence (tenant_id, project, test_id, last_evidence_at)
SELECT tenant_id, project, test_id, MAX(created_at)
FROM healing_results
WHERE outcome IN ('flaky', 'failed', 'error')
GROUP BY tenant_id, project, test_id;

-- One test's window, read index-only (commit and outcome are in the index); replaces the
-- project-wide window index, which only the old full-project scan needed.
DROP INDEX healing_results_window_idx;
DROP INDEX healing_results_test_idx;
CREATE INDEX healing_results_test_idx
    ON healing_results (tenant_id, test_id, created_at, commit_sha, outcome);
-- The earlier results of the commit being ingested: where attempts that disagree are found.
CREATE INDEX healing_results_commit_idx
    ON healing_results (tenant_id, project, commit_sha, test_id, outcome);

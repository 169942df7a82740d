DROP INDEX healing_results_commit_idx;
DROP INDEX healing_results_test_idx;
CREATE INDEX healing_results_test_idx ON healing_results (tenant_id, test_id, created_at);
CREATE INDEX healing_results_window_idx
    ON healing_results (tenant_id, project, created_at, test_id, commit_sha, outcome);
DROP TABLE healing_flaky_evidence;

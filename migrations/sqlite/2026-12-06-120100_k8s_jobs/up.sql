-- Test Jobs run in an environment (k8s module): the request, the status last seen, and what is
-- kept after the namespace is gone: the log (bounded, its end kept) and the JUnit results.
CREATE TABLE k8s_jobs (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    environment_id TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    exit_code BIGINT,
    results TEXT,
    log TEXT,
    log_truncated BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX k8s_jobs_environment_idx ON k8s_jobs (tenant_id, environment_id, created_at);
CREATE INDEX k8s_jobs_open_idx ON k8s_jobs (status);

-- Workflows: definitions (one row per name) and their immutable versions.
CREATE TABLE workflow_definitions (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    latest_version BIGINT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE workflow_versions (
    workflow_id TEXT NOT NULL REFERENCES workflow_definitions(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    definition TEXT NOT NULL,
    checksum TEXT NOT NULL,
    step_count BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

-- One row per run, pinned to the version it started with. The idempotency key is unique per
-- workflow, so the same key can never create a second run. audit_seq/audit_hash are the head of
-- the run's hash-chained audit log.
CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL REFERENCES workflow_definitions(id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    pause_reason TEXT,
    inputs TEXT NOT NULL,
    outputs TEXT,
    error TEXT,
    failed_step TEXT,
    actor TEXT NOT NULL,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    trace_parent TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    deadline_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    audit_seq BIGINT NOT NULL,
    audit_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX workflow_runs_idempotency_idx ON workflow_runs (tenant_id, workflow_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX workflow_runs_tenant_created_idx ON workflow_runs (tenant_id, created_at);
CREATE INDEX workflow_runs_tenant_status_idx ON workflow_runs (tenant_id, status, created_at);
CREATE INDEX workflow_runs_workflow_idx ON workflow_runs (workflow_id, status);

CREATE TABLE workflow_step_runs (
    run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    step_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    uses TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    budget_start BIGINT NOT NULL,
    inputs TEXT,
    outputs TEXT,
    error TEXT,
    attempt_log TEXT NOT NULL,
    wake_at TIMESTAMP,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    PRIMARY KEY (run_id, step_id)
);

-- The ready queue: one row per step (or timer) that may run at ready_at. Claimed in batches with
-- FOR UPDATE SKIP LOCKED; a claim is a lease (owner, token, until) that a crashed replica loses
-- when it expires. Completion deletes the row only if the lease token still matches (fencing).
CREATE TABLE workflow_queue (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    step_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ready_at TIMESTAMP NOT NULL,
    held BOOLEAN NOT NULL DEFAULT FALSE,
    lease_owner TEXT,
    lease_token TEXT,
    lease_until TIMESTAMP,
    enqueued_at TIMESTAMP NOT NULL,
    UNIQUE (run_id, step_id, kind)
);
CREATE INDEX workflow_queue_ready_idx ON workflow_queue (ready_at) WHERE NOT held;
CREATE INDEX workflow_queue_run_idx ON workflow_queue (run_id);

-- Events sent to runs (API or stream); consumed by wait_for_event steps, buffered until then.
CREATE TABLE workflow_events (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    source TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    consumed_by TEXT
);
CREATE INDEX workflow_events_run_idx ON workflow_events (run_id, name);

-- Hash-chained audit log: hash = sha256(prev_hash | run | seq | at | event | …).
CREATE TABLE workflow_audit (
    run_id TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    event TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    step_id TEXT,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Effects of `noop` steps with `effect: true`, written in the transaction that commits the step,
-- keyed by (run, step): a step that ran twice shows executions = 2 instead of hiding it.
CREATE TABLE workflow_effects (
    run_id TEXT NOT NULL,
    step_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    executions BIGINT NOT NULL,
    first_at TIMESTAMP NOT NULL,
    PRIMARY KEY (run_id, step_id)
);

-- The runs list filter `?status=retrying` looks up the runs with a step in `retrying`.
CREATE INDEX workflow_step_runs_status_idx ON workflow_step_runs (tenant_id, status);

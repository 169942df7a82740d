-- The workflow run that provisioned an environment (k8s.provision): torn down when it ends.
ALTER TABLE k8s_environments ADD COLUMN run_id TEXT;
CREATE INDEX k8s_environments_run_idx ON k8s_environments (tenant_id, run_id);

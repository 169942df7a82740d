DROP INDEX k8s_environments_run_idx;
ALTER TABLE k8s_environments DROP COLUMN run_id;

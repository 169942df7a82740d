-- Issue 15: the ledger also records project updates. `project_id` is the instantiation that
-- generated the project (NULL on that first entry itself), so all entries of one generated
-- project share coalesce(project_id, id); `from_commit` and `conflicts` are set on update
-- entries (source `update`); `project_label` is the label or repository URL the caller gave.
ALTER TABLE template_instantiations ADD COLUMN project_id TEXT;
ALTER TABLE template_instantiations ADD COLUMN project_label TEXT;
ALTER TABLE template_instantiations ADD COLUMN from_commit TEXT;
ALTER TABLE template_instantiations ADD COLUMN conflicts BIGINT;
CREATE INDEX template_instantiations_project_idx ON template_instantiations (tenant_id, project_id);

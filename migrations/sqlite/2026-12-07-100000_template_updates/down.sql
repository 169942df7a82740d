DROP INDEX template_instantiations_project_idx;
ALTER TABLE template_instantiations DROP COLUMN conflicts;
ALTER TABLE template_instantiations DROP COLUMN from_commit;
ALTER TABLE template_instantiations DROP COLUMN project_label;
ALTER TABLE template_instantiations DROP COLUMN project_id;

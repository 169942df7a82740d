DROP INDEX template_changes_age;
ALTER TABLE template_changes DROP COLUMN changed_at;

DROP INDEX IF EXISTS template_changes_feed;
DROP TABLE IF EXISTS template_changes;
ALTER TABLE template_repos DROP COLUMN change_seq;

-- When each change-feed entry was written, so that entries no search index can still need are
-- pruned (`templates.search_index_max_age`; see `store::prune_changes`). SQLite cannot add a
-- column whose default is the time; existing entries get the epoch and go at the first pruning,
-- which is safe: the embedded database has one process, whose indexes start empty.
ALTER TABLE template_changes ADD COLUMN changed_at TIMESTAMP NOT NULL DEFAULT '1970-01-01 00:00:00';
CREATE INDEX template_changes_age ON template_changes (changed_at);

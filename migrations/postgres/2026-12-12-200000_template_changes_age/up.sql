-- When each change-feed entry was written, so that entries no search index can still need are
-- pruned (`templates.search_index_max_age`; see `store::prune_changes`). Existing entries count
-- from now: a replica still running the previous version may be reading them.
ALTER TABLE template_changes ADD COLUMN changed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP;
CREATE INDEX template_changes_age ON template_changes (changed_at);

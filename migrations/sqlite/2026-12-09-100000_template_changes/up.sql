-- The search index's change feed: which templates of a tenant changed since a watermark, so the
-- next search after a write loads what changed instead of comparing every row of the tenant.
-- `change_seq` counts the tenant's template writes; bumping it locks the tenant's repository row,
-- so sequence numbers become visible in the order they were taken. One row per template (a
-- deleted template's row is its tombstone).
ALTER TABLE template_repos ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE template_changes (
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, template_id)
);
CREATE INDEX template_changes_feed ON template_changes (tenant_id, seq);

-- Drafts (issue 14): an imported template that does not pass the publish gate is stored as a
-- draft — visible to editors, hidden from viewers — with the gate's answer in draft_gate (JSON).
-- Publishing it (a pass, or an admin's force) is recorded in template_publications.
ALTER TABLE templates ADD COLUMN status TEXT NOT NULL DEFAULT 'published';
ALTER TABLE templates ADD COLUMN draft_gate TEXT;
CREATE TABLE template_publications (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    quality_score BIGINT,
    forced_reason TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX template_publications_by_template ON template_publications (tenant_id, template_id);

-- Where an imported template comes from (POST /api/v1/templates/import): the git URL (without
-- credentials), the ref asked for, the folder in the repository and the commit last imported.
-- One row per template; a template without a row was not imported from git.
CREATE TABLE template_sources (
    template_id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    url TEXT NOT NULL,
    git_ref TEXT,
    path TEXT NOT NULL DEFAULT '',
    commit_id TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL
);
CREATE INDEX template_sources_by_source ON template_sources (tenant_id, url, path);

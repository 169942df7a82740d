-- Template registry. Content lives in one git repository per tenant (<data_dir>/git/<tenant_id>);
-- these rows mirror the metadata of each template's current version for listing and search.
CREATE TABLE templates (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    version TEXT NOT NULL,
    description TEXT NOT NULL,
    author TEXT NOT NULL,
    -- JSON array of lowercase tags (also in template_tags for filtering).
    tags TEXT NOT NULL,
    -- native | cookiecutter
    format TEXT NOT NULL,
    -- The manifest as JSON, and the parameter schema as a JSON array.
    manifest TEXT NOT NULL,
    parameters TEXT NOT NULL,
    -- Lowercased name, description, tags and author: what text search matches.
    search_text TEXT NOT NULL,
    file_count BIGINT NOT NULL,
    size_bytes BIGINT NOT NULL,
    has_hooks BOOLEAN NOT NULL,
    quality_score DOUBLE,
    quality_commit TEXT,
    current_commit TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX templates_tenant_category_idx ON templates (tenant_id, category);
CREATE INDEX templates_tenant_updated_idx ON templates (tenant_id, updated_at);

CREATE TABLE template_tags (
    template_id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (template_id, tag)
);
CREATE INDEX template_tags_tenant_tag_idx ON template_tags (tenant_id, tag);

-- The instantiation ledger: what was generated, from which version, by whom. Rows outlive the
-- template (no foreign key), so the record stays after a delete.
CREATE TABLE template_instantiations (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT NOT NULL,
    template_id TEXT NOT NULL,
    template_name TEXT NOT NULL,
    category TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    version TEXT NOT NULL,
    user_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    parameters TEXT NOT NULL,
    checksum TEXT NOT NULL,
    file_count BIGINT NOT NULL,
    total_bytes BIGINT NOT NULL,
    output_format TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX template_instantiations_template_idx ON template_instantiations (tenant_id, template_id, created_at);

-- Per tenant: the git commit the rows above reflect (checked against the branch at start), and
-- the remote used by POST /api/v1/admin/git/sync.
CREATE TABLE template_repos (
    tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id),
    head_commit TEXT,
    remote_url TEXT,
    remote_branch TEXT,
    last_sync_at TIMESTAMP,
    last_sync_status TEXT,
    last_sync_detail TEXT,
    updated_at TIMESTAMP NOT NULL
);

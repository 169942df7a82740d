-- Ephemeral Kubernetes environments (k8s module). The cluster holds the truth about what runs
-- (and the expiry, in the namespace annotation); this row is the tenant's record: who asked for
-- what, the last phase seen, and when it was deleted.
CREATE TABLE k8s_environments (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    namespace TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL,
    spec TEXT NOT NULL,
    phase TEXT NOT NULL,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    deleted_at TIMESTAMP,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX k8s_environments_list_idx ON k8s_environments (tenant_id, created_at);
CREATE INDEX k8s_environments_owner_idx ON k8s_environments (tenant_id, owner_id, created_at);

-- Leases of the module's cluster-wide tasks (the TTL reaper): one holder at a time across
-- replicas; a holder that stops renewing loses it when it expires.
CREATE TABLE k8s_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- A git remote's URL with its credentials, sealed (AES-256-GCM under a key derived from
-- auth.secret_key; see platform::sealed). `remote_url` keeps the URL with the credentials
-- replaced by `[redacted]`, for showing. NULL when the URL holds no credentials. Rows written
-- before this migration are sealed by the server at start.
ALTER TABLE template_repos ADD COLUMN remote_url_sealed TEXT;

-- A healing repository's password or token, sealed the same way (bound to the tenant). `secret`
-- stays NULL for repositories registered from now on; rows with a `secret` (or a password in
-- the URL) from before are sealed by the server at start.
ALTER TABLE healing_repositories ADD COLUMN secret_sealed TEXT;

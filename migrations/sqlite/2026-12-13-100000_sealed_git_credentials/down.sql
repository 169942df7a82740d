ALTER TABLE template_repos DROP COLUMN remote_url_sealed;
ALTER TABLE healing_repositories DROP COLUMN secret_sealed;

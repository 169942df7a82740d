-- Each failure's classification (timeout, locator, assertion, snapshot, unknown_symbol,
-- connection, environment, other) and its evidence as JSON.
ALTER TABLE healing_failures ADD COLUMN category TEXT NOT NULL DEFAULT 'other';
ALTER TABLE healing_failures ADD COLUMN classification TEXT;
CREATE INDEX healing_failures_category_idx ON healing_failures (tenant_id, category, created_at);

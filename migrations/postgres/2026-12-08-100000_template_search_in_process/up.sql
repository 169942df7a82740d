-- Text search is answered by an in-process index per tenant (src/modules/templates/index.rs),
-- kept in step through the cache generation; nothing reads the weighted tsvector, its GIN index
-- or the old `search_text` column any more, and every write no longer pays for them.
DROP INDEX IF EXISTS templates_search_idx;
ALTER TABLE templates DROP COLUMN IF EXISTS search_vector;
ALTER TABLE templates DROP COLUMN IF EXISTS search_text;

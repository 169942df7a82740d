-- Text search is answered by an in-process index per tenant (src/modules/templates/index.rs),
-- kept in step through the cache generation; nothing reads the FTS5 table, its external content
-- table or the old `search_text` column any more, and every write no longer pays for the
-- triggers.
DROP TRIGGER IF EXISTS templates_search_update;
DROP TRIGGER IF EXISTS templates_search_delete;
DROP TRIGGER IF EXISTS templates_search_insert;
DROP TABLE IF EXISTS templates_fts;
DROP TABLE IF EXISTS template_search;
ALTER TABLE templates DROP COLUMN search_text;

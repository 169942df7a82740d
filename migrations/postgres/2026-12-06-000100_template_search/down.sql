DROP INDEX templates_search_idx;
ALTER TABLE templates DROP COLUMN search_vector;

DROP TRIGGER templates_search_update;
DROP TRIGGER templates_search_delete;
DROP TRIGGER templates_search_insert;
DROP TABLE templates_fts;
DROP TABLE template_search;

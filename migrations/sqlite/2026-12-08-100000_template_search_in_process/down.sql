ALTER TABLE templates ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE templates SET search_text = lower(name || ' ' || description || ' ' || tags || ' ' || author);
CREATE TABLE template_search (
    id INTEGER PRIMARY KEY,
    template_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    tags TEXT NOT NULL,
    description TEXT NOT NULL,
    author TEXT NOT NULL
);
CREATE VIRTUAL TABLE templates_fts USING fts5(
    name, tags, description, author,
    content = 'template_search', content_rowid = 'id',
    tokenize = "unicode61 remove_diacritics 0 separators '+$<=>^`|~'"
);
CREATE TRIGGER templates_search_insert AFTER INSERT ON templates BEGIN
    INSERT INTO template_search (template_id, name, tags, description, author)
        VALUES (new.id, new.name, new.tags, new.description, new.author);
    INSERT INTO templates_fts (rowid, name, tags, description, author)
        SELECT id, name, tags, description, author FROM template_search WHERE template_id = new.id;
END;
CREATE TRIGGER templates_search_delete AFTER DELETE ON templates BEGIN
    INSERT INTO templates_fts (templates_fts, rowid, name, tags, description, author)
        SELECT 'delete', id, name, tags, description, author FROM template_search WHERE template_id = old.id;
    DELETE FROM template_search WHERE template_id = old.id;
END;
CREATE TRIGGER templates_search_update AFTER UPDATE OF id, name, tags, description, author ON templates
WHEN old.id IS NOT new.id OR old.name IS NOT new.name OR old.tags IS NOT new.tags
    OR old.description IS NOT new.description OR old.author IS NOT new.author
BEGIN
    INSERT INTO templates_fts (templates_fts, rowid, name, tags, description, author)
        SELECT 'delete', id, name, tags, description, author FROM template_search WHERE template_id = old.id;
    UPDATE template_search
        SET template_id = new.id, name = new.name, tags = new.tags,
            description = new.description, author = new.author
        WHERE template_id = old.id;
    INSERT INTO templates_fts (rowid, name, tags, description, author)
        SELECT id, name, tags, description, author FROM template_search WHERE template_id = new.id;
END;
INSERT INTO template_search (template_id, name, tags, description, author)
    SELECT id, name, tags, description, author FROM templates;
INSERT INTO templates_fts (templates_fts) VALUES ('rebuild');

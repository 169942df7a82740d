ALTER TABLE templates ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE templates SET search_text = lower(name || ' ' || description || ' ' || tags || ' ' || author);
ALTER TABLE templates ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, regexp_replace(name, '[[:punct:][:space:]]+', ' ', 'g')), 'A')
    || setweight(to_tsvector('simple'::regconfig, regexp_replace(tags, '[[:punct:][:space:]]+', ' ', 'g')), 'B')
    || setweight(to_tsvector('simple'::regconfig, regexp_replace(description, '[[:punct:][:space:]]+', ' ', 'g')), 'C')
    || setweight(to_tsvector('simple'::regconfig, regexp_replace(author, '[[:punct:][:space:]]+', ' ', 'g')), 'D')
) STORED;
CREATE INDEX templates_search_idx ON templates USING GIN (search_vector) WITH (fastupdate = off);

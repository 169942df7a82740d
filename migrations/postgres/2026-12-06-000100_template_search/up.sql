-- Full-text search over templates (src/modules/templates/search.rs). A generated, weighted
-- tsvector: name A, tags B, description C, author D, ranked with ts_rank. Punctuation and
-- spaces become word breaks before the 'simple' configuration (lowercase, no stemming, no stop
-- words) reads the text, so words are runs of letters and digits, as in the SQLite arm and in
-- the query parser.
ALTER TABLE templates ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, regexp_replace(name, '[[:punct:][:space:]]+', ' ', 'g')), 'A')
    || setweight(to_tsvector('simple'::regconfig, regexp_replace(tags, '[[:punct:][:space:]]+', ' ', 'g')), 'B')
    || setweight(to_tsvector('simple'::regconfig, regexp_replace(description, '[[:punct:][:space:]]+', ' ', 'g')), 'C')
    || setweight(to_tsvector('simple'::regconfig, regexp_replace(author, '[[:punct:][:space:]]+', ' ', 'g')), 'D')
) STORED;
CREATE INDEX templates_search_idx ON templates USING GIN (search_vector);

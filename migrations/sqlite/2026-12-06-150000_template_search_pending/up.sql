-- The SQLite arm of the PostgreSQL migration of the same name: merge the FTS5 index's segments
-- once, so searches of an existing catalog read one b-tree (FTS5 keeps merging as it goes).
INSERT INTO templates_fts(templates_fts) VALUES ('optimize');

-- Searches read the GIN index, never a pending list. With `fastupdate` on (the default), new
-- templates' lexemes wait in an unsorted pending list that every search scans in full until a
-- vacuum merges it; after a bulk load of 10,000 templates that made the planner fall back to a
-- sequential scan (4.2 ms for a two-word query instead of 0.2 ms). Inserting straight into the
-- index costs each create a few more index pages, which is the trade a read-mostly catalog wants.
ALTER INDEX templates_search_idx SET (fastupdate = off);
SELECT gin_clean_pending_list('templates_search_idx'::regclass);

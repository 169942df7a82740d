ALTER INDEX templates_search_idx RESET (fastupdate);

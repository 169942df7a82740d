DROP INDEX healing_failures_category_idx;
ALTER TABLE healing_failures DROP COLUMN classification;
ALTER TABLE healing_failures DROP COLUMN category;

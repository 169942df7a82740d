DROP TABLE quality_overrides;
DROP TABLE quality_latest;
DROP TABLE quality_scores;

DROP TABLE healing_failures;
DROP TABLE healing_results;
DROP TABLE healing_tests;
DROP TABLE healing_reports;

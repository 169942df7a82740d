DROP TABLE healing_repositories;
DROP TABLE healing_healings;

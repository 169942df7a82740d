DROP TABLE healing_quarantine;

DROP TABLE template_publications;
ALTER TABLE templates DROP COLUMN draft_gate;
ALTER TABLE templates DROP COLUMN status;

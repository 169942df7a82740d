DROP TABLE template_sources;

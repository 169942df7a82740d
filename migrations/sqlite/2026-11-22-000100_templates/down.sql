DROP TABLE template_repos;
DROP TABLE template_instantiations;
DROP TABLE template_tags;
DROP TABLE templates;

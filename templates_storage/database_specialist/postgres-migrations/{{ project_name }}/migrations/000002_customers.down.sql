DROP TABLE IF EXISTS {{ schema_name }}.customers;

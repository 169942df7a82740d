DROP TABLE IF EXISTS {{ schema_name }}.order_lines;
DROP TABLE IF EXISTS {{ schema_name }}.orders;

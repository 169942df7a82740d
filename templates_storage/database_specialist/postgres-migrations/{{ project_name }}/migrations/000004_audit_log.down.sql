DROP TRIGGER IF EXISTS customers_audit ON {{ schema_name }}.customers;
DROP FUNCTION IF EXISTS {{ schema_name }}.audit_row();
DROP TABLE IF EXISTS {{ schema_name }}.audit_log;

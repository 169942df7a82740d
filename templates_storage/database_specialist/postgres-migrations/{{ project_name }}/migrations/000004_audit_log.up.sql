-- Row-level audit trail for tables that need one. Attach with:
--   CREATE TRIGGER <table>_audit AFTER INSERT OR UPDATE OR DELETE ON {{ schema_name }}.<table>
--       FOR EACH ROW EXECUTE FUNCTION {{ schema_name }}.audit_row();
CREATE TABLE {{ schema_name }}.audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name  text        NOT NULL,
    operation   text        NOT NULL CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE')),
    row_pk      text        NOT NULL,
    old_row     jsonb,
    new_row     jsonb,
    changed_by  text        NOT NULL DEFAULT current_user,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_log_table_row_idx ON {{ schema_name }}.audit_log (table_name, row_pk, changed_at DESC);

CREATE OR REPLACE FUNCTION {{ schema_name }}.audit_row() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    old_json jsonb := CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END;
    new_json jsonb := CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END;
BEGIN
    INSERT INTO {{ schema_name }}.audit_log (table_name, operation, row_pk, old_row, new_row)
    VALUES (TG_TABLE_NAME, TG_OP, coalesce(new_json, old_json) ->> 'id', old_json, new_json);
    RETURN NULL;
END
$$;

CREATE TRIGGER customers_audit
    AFTER INSERT OR UPDATE OR DELETE ON {{ schema_name }}.customers
    FOR EACH ROW EXECUTE FUNCTION {{ schema_name }}.audit_row();

-- The application may read its audit trail but never rewrite it.
REVOKE UPDATE, DELETE ON {{ schema_name }}.audit_log FROM {{ app_role }};

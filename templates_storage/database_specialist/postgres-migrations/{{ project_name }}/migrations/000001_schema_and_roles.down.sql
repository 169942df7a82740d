DROP FUNCTION IF EXISTS {{ schema_name }}.set_updated_at();
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ schema_name }}
    REVOKE SELECT ON TABLES FROM {{ readonly_role }};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ schema_name }}
    REVOKE USAGE, SELECT ON SEQUENCES FROM {{ app_role }};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ schema_name }}
    REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {{ app_role }};
DROP SCHEMA IF EXISTS {{ schema_name }};
-- Group roles are cluster-wide and may be shared with other databases; drop them manually:
--   DROP ROLE {{ app_role }}; DROP ROLE {{ readonly_role }};

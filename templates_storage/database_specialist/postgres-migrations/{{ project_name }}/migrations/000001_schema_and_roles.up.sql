-- Schema, group roles and default privileges. Runs once per database.
CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS citext;

CREATE SCHEMA IF NOT EXISTS {{ schema_name }};

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{ app_role }}') THEN
        CREATE ROLE {{ app_role }} NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{ readonly_role }}') THEN
        CREATE ROLE {{ readonly_role }} NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA {{ schema_name }} TO {{ app_role }}, {{ readonly_role }};

-- Objects created later by the migration user inherit these grants automatically.
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ schema_name }}
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {{ app_role }};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ schema_name }}
    GRANT USAGE, SELECT ON SEQUENCES TO {{ app_role }};
ALTER DEFAULT PRIVILEGES IN SCHEMA {{ schema_name }}
    GRANT SELECT ON TABLES TO {{ readonly_role }};

-- Shared trigger function: keeps updated_at honest without relying on application code.
CREATE OR REPLACE FUNCTION {{ schema_name }}.set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

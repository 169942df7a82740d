CREATE TABLE {{ schema_name }}.customers (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    email       citext      NOT NULL,
    full_name   text        NOT NULL CHECK (length(full_name) BETWEEN 1 AND 200),
    status      text        NOT NULL DEFAULT 'active'
                            CHECK (status IN ('active', 'suspended', 'closed')),
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

COMMENT ON TABLE {{ schema_name }}.customers IS 'People or organisations that place orders.';
COMMENT ON COLUMN {{ schema_name }}.customers.deleted_at IS 'Soft delete marker; NULL for live rows.';

-- Unique among live rows only, so a closed account's e-mail can be reused.
CREATE UNIQUE INDEX customers_email_live_key
    ON {{ schema_name }}.customers (email) WHERE deleted_at IS NULL;

CREATE TRIGGER customers_set_updated_at
    BEFORE UPDATE ON {{ schema_name }}.customers
    FOR EACH ROW EXECUTE FUNCTION {{ schema_name }}.set_updated_at();

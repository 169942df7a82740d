CREATE TABLE {{ schema_name }}.orders (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_id     uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    customer_id   uuid        NOT NULL REFERENCES {{ schema_name }}.customers (id) ON DELETE RESTRICT,
    status        text        NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled', 'refunded')),
    currency      char(3)     NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_cents   bigint      NOT NULL CHECK (total_cents >= 0),
    placed_at     timestamptz NOT NULL DEFAULT now(),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Foreign keys are not indexed automatically in PostgreSQL; this one backs customer lookups and
-- keeps deletes on customers from scanning the whole table.
CREATE INDEX orders_customer_id_placed_at_idx ON {{ schema_name }}.orders (customer_id, placed_at DESC);
CREATE INDEX orders_open_status_idx ON {{ schema_name }}.orders (status) WHERE status IN ('pending', 'paid');

CREATE TABLE {{ schema_name }}.order_lines (
    order_id          bigint  NOT NULL REFERENCES {{ schema_name }}.orders (id) ON DELETE CASCADE,
    line_no           integer NOT NULL CHECK (line_no > 0),
    sku               text    NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    unit_price_cents  bigint  NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, line_no)
);

CREATE TRIGGER orders_set_updated_at
    BEFORE UPDATE ON {{ schema_name }}.orders
    FOR EACH ROW EXECUTE FUNCTION {{ schema_name }}.set_updated_at();

-- Exercises constraints and triggers inside a transaction that is always rolled back.
BEGIN;

INSERT INTO {{ schema_name }}.customers (email, full_name) VALUES ('Ada@Example.com', 'Ada Lovelace');

DO $$
DECLARE
    customer uuid;
    audit_rows int;
BEGIN
    SELECT id INTO customer FROM {{ schema_name }}.customers WHERE email = 'ada@example.com';  -- citext
    IF customer IS NULL THEN RAISE EXCEPTION 'case-insensitive e-mail lookup failed'; END IF;

    INSERT INTO {{ schema_name }}.orders (customer_id, currency, total_cents) VALUES (customer, 'EUR', 1299);
    UPDATE {{ schema_name }}.customers SET full_name = 'Augusta Ada King' WHERE id = customer;

    SELECT count(*) INTO audit_rows FROM {{ schema_name }}.audit_log WHERE row_pk = customer::text;
    IF audit_rows <> 2 THEN RAISE EXCEPTION 'expected 2 audit rows, found %', audit_rows; END IF;

    BEGIN
        INSERT INTO {{ schema_name }}.orders (customer_id, currency, total_cents) VALUES (customer, 'eur', 1);
        RAISE EXCEPTION 'lowercase currency was accepted';
    EXCEPTION WHEN check_violation THEN
        NULL;  -- expected
    END;
END
$$;

ROLLBACK;

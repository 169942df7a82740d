"""Behaviour that only a real PostgreSQL can prove: constraints, upserts, row locking."""

import psycopg
import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

pytestmark = pytest.mark.integration


def test_unique_email_is_enforced(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO accounts (email) VALUES ('ada@example.com')")
    with pytest.raises(errors.UniqueViolation):
        with db.transaction():  # savepoint, so the outer test transaction stays usable
            db.execute("INSERT INTO accounts (email) VALUES ('ada@example.com')")


def test_balance_cannot_go_negative(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO accounts (email, balance) VALUES ('grace@example.com', 10)")
    with pytest.raises(errors.CheckViolation):
        with db.transaction():
            db.execute("UPDATE accounts SET balance = balance - 11 WHERE email = 'grace@example.com'")


def test_upsert_returns_existing_row(db: psycopg.Connection) -> None:
    sql = """
        INSERT INTO accounts (email, balance) VALUES (%s, %s)
        ON CONFLICT (email) DO UPDATE SET balance = accounts.balance + EXCLUDED.balance
        RETURNING id, balance
    """
    first = db.execute(sql, ("alan@example.com", 5)).fetchone()
    second = db.execute(sql, ("alan@example.com", 7)).fetchone()
    assert first is not None and second is not None
    assert second[0] == first[0]
    assert second[1] == 12


def test_rollback_isolates_tests(db: psycopg.Connection) -> None:
    # Rows inserted by other tests were rolled back, so this e-mail is free again.
    db.execute("INSERT INTO accounts (email) VALUES ('ada@example.com')")


def test_skip_locked_hands_each_job_to_one_worker(db_factory) -> None:
    setup = db_factory(autocommit=True)
    setup.execute("DELETE FROM jobs")
    setup.execute("INSERT INTO jobs (payload) SELECT %s FROM generate_series(1, 3)", (Jsonb({"kind": "email"}),))

    claim = """
        UPDATE jobs SET state = 'running', locked_by = %s
        WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
        RETURNING id
    """
    worker_a, worker_b = db_factory(), db_factory()
    job_a = worker_a.execute(claim, ("a",)).fetchone()
    job_b = worker_b.execute(claim, ("b",)).fetchone()  # A's row is locked and skipped
    assert job_a is not None and job_b is not None
    assert job_a[0] != job_b[0]
    worker_a.commit()
    worker_b.commit()
    states = setup.execute("SELECT state, count(*) FROM jobs GROUP BY state ORDER BY state").fetchall()
    assert states == [("queued", 1), ("running", 2)]
    setup.execute("DELETE FROM jobs")

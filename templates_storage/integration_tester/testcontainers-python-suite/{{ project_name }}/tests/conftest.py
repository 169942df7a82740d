"""Fixtures for integration tests against real PostgreSQL and Redis.

Resolution order for each dependency:
1. TEST_DATABASE_URL / TEST_REDIS_URL, e.g. CI service containers or a local instance;
2. otherwise a Testcontainers container, started once per test session;
3. if Docker is unavailable too, integration tests are skipped with a clear reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

POSTGRES_IMAGE = os.environ.get("TEST_POSTGRES_IMAGE", "{{ postgres_image }}")
REDIS_IMAGE = os.environ.get("TEST_REDIS_IMAGE", "{{ redis_image }}")
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _docker_available() -> bool:
    try:
        from testcontainers.core.docker_client import DockerClient

        DockerClient().client.ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no usable Docker"
        return False


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    if not _docker_available():
        pytest.skip("no TEST_DATABASE_URL and no Docker daemon for Testcontainers")
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer(POSTGRES_IMAGE, driver=None) as container:
        yield container.get_connection_url()


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> str:
    """Applies migrations/*.sql once per session."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for script in sorted(MIGRATIONS.glob("*.sql")):
            conn.execute(script.read_text())
    return database_url


@pytest.fixture
def db(migrated_database: str) -> Iterator[psycopg.Connection]:
    """A connection inside a transaction that is rolled back after the test: no cleanup code, no
    leakage between tests. Code under test must use this connection (or savepoints) to see data."""
    conn = psycopg.connect(migrated_database)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


@pytest.fixture
def db_factory(migrated_database: str) -> Iterator:
    """Independent autocommit connections, for tests about concurrency between sessions."""
    opened: list[psycopg.Connection] = []

    def connect(**kwargs) -> psycopg.Connection:
        conn = psycopg.connect(migrated_database, **kwargs)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if url := os.environ.get("TEST_REDIS_URL"):
        yield url
        return
    if not _docker_available():
        pytest.skip("no TEST_REDIS_URL and no Docker daemon for Testcontainers")
    from testcontainers.redis import RedisContainer

    with RedisContainer(REDIS_IMAGE) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


@pytest.fixture
def cache(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()

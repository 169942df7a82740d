"""Shared configuration and fixtures for the {{ cookiecutter.api_name }} test suite.

Environment variables:
  API_BASE_URL   target environment (default {{ cookiecutter.base_url }})
{%- if cookiecutter.auth_type == "bearer" %}
  API_TOKEN      bearer token for authenticated calls (required)
{%- elif cookiecutter.auth_type == "api_key" %}
  API_KEY        value of the X-API-Key header (required)
{%- endif %}
  API_TIMEOUT    request timeout in seconds (default 10)
  ALLOW_DESTRUCTIVE  set to 1 to run tests marked destructive (default: on unless the URL looks like production)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

BASE_URL = os.environ.get("API_BASE_URL", "{{ cookiecutter.base_url }}").rstrip("/")
RESOURCE = "{{ cookiecutter.resource_path }}"
TIMEOUT = float(os.environ.get("API_TIMEOUT", "10"))


def auth_headers() -> dict[str, str]:
{%- if cookiecutter.auth_type == "bearer" %}
    token = os.environ.get("API_TOKEN")
    if not token:
        pytest.exit("API_TOKEN is not set", returncode=2)
    return {"Authorization": f"Bearer {token}"}
{%- elif cookiecutter.auth_type == "api_key" %}
    key = os.environ.get("API_KEY")
    if not key:
        pytest.exit("API_KEY is not set", returncode=2)
    return {"X-API-Key": key}
{%- else %}
    return {}
{%- endif %}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    looks_like_prod = "prod" in BASE_URL and "preprod" not in BASE_URL
    allow = os.environ.get("ALLOW_DESTRUCTIVE", "0" if looks_like_prod else "1") == "1"
    if allow:
        return
    skip = pytest.mark.skip(reason="destructive tests disabled for this environment (ALLOW_DESTRUCTIVE=1 enables)")
    for item in items:
        if "destructive" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def client() -> Iterator[httpx.Client]:
    """Authenticated client; every request carries a correlation ID for tracing failures."""

    def add_request_id(request: httpx.Request) -> None:
        request.headers.setdefault("X-Request-ID", f"test-{uuid.uuid4().hex[:12]}")

    with httpx.Client(
        base_url=BASE_URL,
        headers={"Accept": "application/json", **auth_headers()},
        timeout=TIMEOUT,
        event_hooks={"request": [add_request_id]},
    ) as http:
        yield http


@pytest.fixture(scope="session")
def anonymous_client() -> Iterator[httpx.Client]:
    with httpx.Client(base_url=BASE_URL, timeout=TIMEOUT) as http:
        yield http


@pytest.fixture
def unique_name() -> str:
    return f"qa-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def create_item(client: httpx.Client) -> Iterator[Callable[..., dict]]:
    """Factory that creates items and deletes them after the test, even when the test fails."""
    created: list[str] = []

    def factory(**overrides) -> dict:
        payload = {"name": f"qa-{uuid.uuid4().hex[:10]}", "price_cents": 1299, **overrides}
        response = client.post(RESOURCE, json=payload)
        assert response.status_code == 201, f"setup failed: {response.status_code} {response.text}"
        item = response.json()
        created.append(item["id"])
        return item

    yield factory
    for item_id in created:
        client.delete(f"{RESOURCE}/{item_id}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Adds the last HTTP exchange to the failure report, which is most of what triage needs."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and call.when == "call":
        response = getattr(item, "last_response", None)
        if response is not None:
            report.sections.append(
                (
                    "last HTTP exchange",
                    f"{response.request.method} {response.request.url}\n"
                    f"X-Request-ID: {response.request.headers.get('X-Request-ID')}\n"
                    f"-> {response.status_code}\n{response.text[:2000]}",
                )
            )

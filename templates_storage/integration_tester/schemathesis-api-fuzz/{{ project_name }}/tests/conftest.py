"""Loads the OpenAPI schema of {{ api_name }} once per session.

Environment:
  API_BASE_URL    base URL of the API under test (default {{ base_url }})
  API_SCHEMA_URL  full URL of the OpenAPI document (default API_BASE_URL + {{ schema_path }})
  API_TOKEN       optional bearer token sent with every generated request
"""

from __future__ import annotations

import os

import pytest
import schemathesis

BASE_URL = os.environ.get("API_BASE_URL", "{{ base_url }}").rstrip("/")
SCHEMA_URL = os.environ.get("API_SCHEMA_URL", BASE_URL + "{{ schema_path }}")
TOKEN = os.environ.get("API_TOKEN")


@pytest.fixture(scope="session")
def api_schema():
    try:
        schema = schemathesis.openapi.from_url(SCHEMA_URL)
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"OpenAPI schema not reachable at {SCHEMA_URL}: {exc}")
    schema.config.update(base_url=BASE_URL)
    return schema


@pytest.fixture(scope="session")
def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}

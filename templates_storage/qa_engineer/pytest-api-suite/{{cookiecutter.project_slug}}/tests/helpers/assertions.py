"""Assertion helpers that produce readable failure messages for HTTP responses."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import httpx
from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@cache
def _validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_status(response: httpx.Response, expected: int) -> None:
    assert response.status_code == expected, (
        f"{response.request.method} {response.request.url} returned {response.status_code}, "
        f"expected {expected}: {response.text[:500]}"
    )


def assert_matches_schema(payload: object, schema_name: str) -> None:
    errors = sorted(_validator(schema_name).iter_errors(payload), key=lambda e: list(e.path))
    assert not errors, "schema violations:\n" + "\n".join(
        f"  at /{'/'.join(map(str, e.path))}: {e.message}" for e in errors
    )


def assert_json(response: httpx.Response) -> object:
    content_type = response.headers.get("content-type", "")
    assert "json" in content_type, f"expected a JSON response, got {content_type!r}"
    return response.json()

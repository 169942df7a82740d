"""Functional regression tests for {{ cookiecutter.resource_path }}."""

import httpx
import pytest

from .conftest import RESOURCE
from .helpers.assertions import assert_json, assert_matches_schema, assert_status

pytestmark = pytest.mark.regression


@pytest.mark.destructive
def test_create_returns_the_item(create_item) -> None:
    item = create_item(name="qa-widget", price_cents=250)
    assert_matches_schema(item, "item")
    assert item["name"] == "qa-widget"
    assert item["price_cents"] == 250


@pytest.mark.destructive
def test_created_item_can_be_fetched(client: httpx.Client, create_item, request) -> None:
    item = create_item()
    response = request.node.last_response = client.get(f"{RESOURCE}/{item['id']}")
    assert_status(response, 200)
    assert assert_json(response) == item


@pytest.mark.destructive
def test_delete_is_permanent(client: httpx.Client, create_item) -> None:
    item = create_item()
    assert_status(client.delete(f"{RESOURCE}/{item['id']}"), 204)
    assert_status(client.get(f"{RESOURCE}/{item['id']}"), 404)


def test_list_is_paginated(client: httpx.Client) -> None:
    response = client.get(RESOURCE, params={"limit": 2, "offset": 0})
    assert_status(response, 200)
    page = assert_json(response)
    assert_matches_schema(page, "item_page")
    assert len(page["items"]) <= 2
    for item in page["items"]:
        assert_matches_schema(item, "item")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "", "price_cents": 1}, "name"),
        ({"name": "x" * 201, "price_cents": 1}, "name"),
        ({"name": "ok", "price_cents": -1}, "price_cents"),
        ({"name": "ok", "price_cents": "12"}, "price_cents"),
        ({"price_cents": 1}, "name"),
    ],
    ids=["empty-name", "long-name", "negative-price", "string-price", "missing-name"],
)
def test_invalid_payloads_are_rejected(client: httpx.Client, payload: dict, field: str) -> None:
    response = client.post(RESOURCE, json=payload)
    assert_status(response, 422)
    assert field in response.text


def test_unknown_item_is_404(client: httpx.Client) -> None:
    assert_status(client.get(f"{RESOURCE}/00000000-0000-4000-8000-000000000000"), 404)


def test_malformed_id_is_a_client_error(client: httpx.Client) -> None:
    response = client.get(f"{RESOURCE}/not-a-uuid")
    assert 400 <= response.status_code < 500

from uuid import uuid4

from fastapi.testclient import TestClient


def test_create_get_delete(client: TestClient) -> None:
    created = client.post("/api/v1/items", json={"name": "widget", "price_cents": 1299})
    assert created.status_code == 201
    item = created.json()
    assert item["name"] == "widget"
    assert item["tags"] == []

    fetched = client.get(f"/api/v1/items/{item['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == item

    assert client.delete(f"/api/v1/items/{item['id']}").status_code == 204
    assert client.get(f"/api/v1/items/{item['id']}").status_code == 404


def test_validation_error(client: TestClient) -> None:
    response = client.post("/api/v1/items", json={"name": "", "price_cents": -1})
    assert response.status_code == 422
    fields = {tuple(err["loc"]) for err in response.json()["detail"]}
    assert ("body", "name") in fields
    assert ("body", "price_cents") in fields


def test_pagination(client: TestClient) -> None:
    for i in range(5):
        client.post("/api/v1/items", json={"name": f"item-{i}", "price_cents": i})
    page = client.get("/api/v1/items", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert [i["name"] for i in page["items"]] == ["item-1", "item-2"]


def test_unknown_item(client: TestClient) -> None:
    assert client.get(f"/api/v1/items/{uuid4()}").status_code == 404
    assert client.delete(f"/api/v1/items/{uuid4()}").status_code == 404

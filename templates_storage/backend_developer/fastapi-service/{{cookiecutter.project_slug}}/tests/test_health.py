from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import __version__


def test_liveness(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_readiness_after_startup(client: TestClient) -> None:
    assert client.get("/readyz").json() == {"status": "ready"}


def test_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"


def test_request_id_is_generated(client: TestClient) -> None:
    assert len(client.get("/healthz").headers["x-request-id"]) == 32

import pytest
from fastapi.testclient import TestClient

PREDICT = "/v1/models/{{ model_name }}:predict"


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metadata(client: TestClient) -> None:
    meta = client.get("/v1/models/{{ model_name }}").json()
    assert meta["inputs"][0]["name"] == "features"
    assert meta["inputs"][0]["shape"] == ["batch", 4]
    assert {o["name"] for o in meta["outputs"]} == {"probabilities", "label"}


def test_predict(client: TestClient) -> None:
    response = client.post(PREDICT, json={"instances": [[0.1, 0.2, 0.3, 0.4], [1, 0, 0, 1]]})
    assert response.status_code == 200
    body = response.json()
    probabilities = body["predictions"]["probabilities"]
    assert len(probabilities) == 2
    for row in probabilities:
        assert sum(row) == pytest.approx(1.0, abs=1e-5)
    assert all(label in (0, 1, 2) for label in body["predictions"]["label"])


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"instances": [[1.0, 2.0]]}, 422),          # wrong feature count
        ({"instances": []}, 422),                    # empty batch
        ({"instances": [[0.0] * 4] * 9}, 413),       # over max_batch_size
        ({"instances": [[1, 2, 3, 4], [1, 2]]}, 422),  # ragged rows
    ],
)
def test_rejects_bad_input(client: TestClient, payload: dict, status: int) -> None:
    assert client.post(PREDICT, json=payload).status_code == status


def test_unknown_model(client: TestClient) -> None:
    assert client.post("/v1/models/other:predict", json={"instances": [[0, 0, 0, 0]]}).status_code == 404

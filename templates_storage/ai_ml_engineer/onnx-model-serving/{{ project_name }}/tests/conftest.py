from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from {{ package_name }}.config import Settings
from {{ package_name }}.demo_model import build_demo_model
from {{ package_name }}.main import create_app


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_model(tmp_path_factory.mktemp("models") / "model.onnx")


@pytest.fixture
def client(model_path: Path) -> Iterator[TestClient]:
    settings = Settings(model_path=str(model_path), max_batch_size=8)
    with TestClient(create_app(settings)) as test_client:
        yield test_client

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.api.items import ItemRepository, get_repository
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.main import create_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = create_app(Settings(environment="local", log_json=False))
    repository = ItemRepository()
    app.dependency_overrides[get_repository] = lambda: repository
    with TestClient(app) as test_client:  # runs the lifespan (startup/shutdown)
        yield test_client

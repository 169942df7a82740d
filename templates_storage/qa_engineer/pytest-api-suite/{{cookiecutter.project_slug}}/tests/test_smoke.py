import httpx
import pytest

from .helpers.assertions import assert_json, assert_status

pytestmark = pytest.mark.smoke


def test_liveness(anonymous_client: httpx.Client) -> None:
    response = anonymous_client.get("/healthz")
    assert_status(response, 200)
    assert assert_json(response)["status"] == "ok"


def test_responses_are_fast_enough(client: httpx.Client) -> None:
    response = client.get("{{ cookiecutter.resource_path }}", params={"limit": 1})
    assert_status(response, 200)
    assert response.elapsed.total_seconds() < 1.0, f"list took {response.elapsed.total_seconds():.2f}s"

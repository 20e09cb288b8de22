"""The API's guards in process (Starlette's test client): token, CORS preflight, body limit."""

import warnings

import pytest
from fakes import catalog_scene

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.stac_api.app import ApiOptions, create_app

TOKEN = "in-process-token-0123456789"


@pytest.fixture
def client_for(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene("a", product_key="A")])
    repo = open_catalog(path, read_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette deprecates its httpx backend in favour of httpx2
        from starlette.testclient import TestClient

    def make(**options):
        return TestClient(create_app(repo, repo.reader, ApiOptions(**options)))

    yield make
    repo.close()


def test_cors_preflight_is_answered_before_the_token_check_and_only_for_allowed_origins(client_for):
    client = client_for(token=TOKEN, cors_origins=("https://maps.example",))
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = client.options("/search", headers={"Origin": "https://maps.example", **preflight})
    other = client.options("/search", headers={"Origin": "https://evil.example", **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://maps.example"
    assert "access-control-allow-origin" not in other.headers
    assert client.get("/search").status_code == 401
    assert client.get("/search", headers={"Authorization": f"Bearer {TOKEN}"}).json()["features"][0]["id"] == "a"


def test_a_body_over_the_limit_is_refused_even_without_a_length(client_for):
    client = client_for(max_body_bytes=2048)

    def chunks():
        yield b'{"limit": 1, "ids": ["' + b"x" * 4096 + b'"]}'

    assert client.post("/search", content=chunks(), headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/search", json={"limit": 1}).status_code == 200

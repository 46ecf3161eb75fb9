"""The OpenAPI document lists every error code the HTTP routes answer, under its status, and
documents the API keys (security schemes and 401) exactly when the server requires them."""

from __future__ import annotations

import re

import pytest

from app import create_app
from app.config import REPO_ROOT
from app.http.openapi import ERROR_STATUSES
from tests.conftest import b64

KEY = "alpha-0123456789abcdef"
PROTECTED = [
    ("/detect", "post"),
    ("/v1/vision/detection", "post"),
    ("/v1/vision/custom/{name}", "post"),
    ("/model", "get"),
]
OPEN = [("/health", "get"), ("/openapi.json", "get"), ("/docs", "get"), ("/", "get")]
# Codes in the source that HTTP clients never see, and why.
NOT_HTTP = {
    "detection_error": "the base class's placeholder; every raised error is a subclass",
    "config_error": "bad settings stop the server at start-up (or become 503 auth_unavailable)",
}
CODE_IN_SOURCE = re.compile(r"""\bcode\s*=\s*["']([a-z][a-z0-9_]*)["']""")


def documented_codes() -> dict[str, str]:
    return {code: status for status, (_, codes) in ERROR_STATUSES.items() for code in codes}


def http_source_files() -> list:
    """The app's modules that answer HTTP: all of app/ but the S3/IoT event adapters."""
    return [p for p in (REPO_ROOT / "app").rglob("*.py") if "events" not in p.parts]


def test_every_error_code_the_http_routes_raise_is_documented():
    raised = {
        code
        for path in http_source_files()
        for code in CODE_IN_SOURCE.findall(path.read_text(encoding="utf-8"))
    }
    assert {"duplicate_key", "too_many_tiles", "unauthorized", "auth_unavailable"} <= raised
    assert raised - set(NOT_HTTP) - set(documented_codes()) == set()


def test_no_code_is_documented_under_two_statuses():
    listed = [code for _, codes in ERROR_STATUSES.values() for code in codes]
    assert len(listed) == len(set(listed))


@pytest.fixture
def keyed_app(yolox_model):
    return create_app({"api_keys": f"{KEY},{KEY[::-1]}"}, model=yolox_model)


def test_without_keys_nothing_mentions_them(client):
    document = client.get("/openapi.json").get_json()
    assert "securitySchemes" not in document["components"]
    for path, method in PROTECTED + OPEN:
        operation = document["paths"][path][method]
        assert "security" not in operation and "401" not in operation["responses"]


def test_with_keys_protected_routes_document_both_schemes_and_401(keyed_app):
    document = keyed_app.test_client().get("/openapi.json").get_json()  # an open route
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer"}
    for path, method in PROTECTED:
        operation = document["paths"][path][method]
        assert operation["security"] == [{"apiKey": []}, {"bearer": []}]
        assert "`unauthorized`" in operation["responses"]["401"]["description"]
    for path, method in OPEN:
        operation = document["paths"][path][method]
        assert "security" not in operation and "401" not in operation["responses"]


@pytest.mark.parametrize(("path", "method"), PROTECTED)
def test_the_documented_401_is_what_the_server_answers(keyed_app, path, method):
    client = keyed_app.test_client()
    document = client.get("/openapi.json").get_json()
    url = path.replace("{name}", "any-model")
    response = client.open(url, method=method.upper(), json={"image": b64(b"x")})
    assert str(response.status_code) in document["paths"][path][method]["responses"]
    assert response.status_code == 401
    body = response.get_json()
    if path.startswith("/v1/vision/"):  # DeepStack's own error shape
        assert body["success"] is False and body["code"] == 401
    else:
        assert body["error"]["code"] in ERROR_STATUSES["401"][1]

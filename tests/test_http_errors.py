"""Errors become HTTP answers in one table (app/http/errors.py): every error class the routes
can raise has its row, the routes answer what the table says (DeepStack's too), the errors
themselves carry no HTTP status, and /openapi.json lists exactly the table."""

from __future__ import annotations

import importlib
import io
import pkgutil
import re

import pytest

import app as app_package
from app import create_app
from app.detector.errors import ConfigError, DetectionError
from app.http.errors import HTTP_ERRORS, UNEXPECTED, codes_by_status, http_error
from app.http.openapi import ERROR_STATUSES
from app.service import DetectionService

ROWS = [pytest.param(row, id=row.error.__name__) for row in HTTP_ERRORS]


def all_error_classes() -> set[type[DetectionError]]:
    """Every DetectionError subclass defined anywhere in app/ (all modules imported)."""
    for module in pkgutil.walk_packages(app_package.__path__, "app."):
        importlib.import_module(module.name)
    found, stack = set(), [DetectionError]
    while stack:
        cls = stack.pop()
        found.add(cls)
        stack.extend(cls.__subclasses__())
    return found


def test_no_error_class_carries_an_http_status_or_headers():
    for cls in all_error_classes():
        assert not hasattr(cls, "http_status"), cls
        assert not hasattr(cls, "headers"), cls


def test_every_error_the_routes_can_raise_has_a_row():
    """The triggers' own errors (app/events) never reach HTTP; ConfigError stops start-up."""
    rows = {row.error for row in HTTP_ERRORS}
    for cls in all_error_classes() - {DetectionError, ConfigError}:
        if not cls.__module__.startswith("app.events."):
            assert any(base in rows for base in cls.__mro__), cls


def test_a_row_lists_its_class_default_code():
    for row in HTTP_ERRORS:
        assert row.error.code in row.codes, row


def test_openapi_lists_exactly_the_table():
    assert {int(status) for status in ERROR_STATUSES} == set(codes_by_status())
    for status, codes in codes_by_status().items():
        assert ERROR_STATUSES[str(status)][1] == codes
    assert codes_by_status()[500] == UNEXPECTED.codes


def test_the_served_document_describes_each_status_with_the_tables_codes(client):
    document = client.get("/openapi.json").get_json()
    table = {str(status): codes for status, codes in codes_by_status().items()}
    described = 0
    for operations in document["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                meaning, codes_sep, codes = response["description"].partition("Codes:")
                if codes_sep:  # an error answer (/health's 503 is a Health body instead)
                    listed = re.findall(r"`([a-z0-9_]+)`", codes)
                    assert tuple(listed) == table[status], (status, meaning)
                    described += 1
    assert described > 10


@pytest.fixture
def raising_app(yolox_model):
    app = create_app(model=yolox_model)

    def raise_row(index: int):
        row = HTTP_ERRORS[index]
        raise row.error("A sentence for the client.", code=row.codes[-1])

    app.add_url_rule("/raise/<int:index>", view_func=raise_row)
    return app


@pytest.mark.parametrize(
    "index", range(len(HTTP_ERRORS)), ids=[r.error.__name__ for r in HTTP_ERRORS]
)
def test_a_route_answers_the_rows_status_code_and_headers(raising_app, index):
    row = HTTP_ERRORS[index]
    response = raising_app.test_client().get(f"/raise/{index}")
    assert response.status_code == row.status
    assert response.get_json() == {
        "error": {"code": row.codes[-1], "message": "A sentence for the client."}
    }
    for name, value in row.headers:
        assert response.headers[name] == value


@pytest.mark.parametrize("row", ROWS)
def test_deepstack_answers_the_same_status(yolox_model, demo_jpeg, monkeypatch, row):
    def fail(self, image_bytes, options):
        raise row.error("A sentence for the client.")

    monkeypatch.setattr(DetectionService, "run", fail)
    response = (
        create_app(model=yolox_model)
        .test_client()
        .post(
            "/v1/vision/detection",
            data={"image": (io.BytesIO(demo_jpeg), "a.jpg")},
            content_type="multipart/form-data",
        )
    )
    assert response.status_code == row.status
    assert response.get_json() == {
        "success": False,
        "error": "A sentence for the client.",
        "code": row.status,
    }
    for name, value in row.headers:
        assert response.headers[name] == value


def test_an_error_outside_the_table_is_a_500_with_its_code():
    assert http_error(ConfigError("bad setting")).status == 500
    assert http_error(DetectionError("base")).status == 500

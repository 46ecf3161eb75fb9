"""GET /openapi.json: a valid OpenAPI 3.1 document that the app keeps, fuzzed by schemathesis.

The schemathesis run reads the document from the live app, so whatever the schemas say (a new
request option, a new response field) is what it generates and checks, with no change here.
"""

from __future__ import annotations

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from moto import mock_aws
from PIL import Image
from schemathesis.specs.openapi.checks import negative_data_rejection

from app import aws, create_app
from app.http.uploads import QUERY_OPTIONS
from app.schemas.contract import DETECT_OPTIONS
from app.schemas.detect import DETECT_FIELDS
from tests.aws_events import make_client, use_fake_credentials
from tests.conftest import DEMO_DIR, b64, encode_image

# Bounded and derandomized: the same cases on every run, a few seconds in all.
FUZZ_EXAMPLES_PER_OPERATION = 60
SCHEMATHESIS_CONFIG = {
    "phases": {
        "examples": {"enabled": True},
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},
    },
    "generation": {"mode": "all", "deterministic": True},
    "checks": {
        # A schema-valid request may still be refused (random base64 is not an image, a
        # label may be unknown): 4xx answers to valid data are documented, not failures.
        "positive_data_acceptance": {"enabled": False},
    },
}


@pytest.fixture
def document(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


@pytest.fixture
def api_schema(yolox_model, monkeypatch):
    """The app with jobs on, its S3 in moto: POST /jobs and GET /jobs/{id} get fuzzed too."""
    use_fake_credentials(monkeypatch)
    with mock_aws():
        aws.client.cache_clear()
        make_client("s3").create_bucket(Bucket="jobs-bucket")
        app = create_app({"jobs_bucket": "jobs-bucket"}, model=yolox_model)
        config = schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG)
        yield schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    aws.client.cache_clear()


schema = schemathesis.pytest.from_fixture("api_schema")


def _image_samples() -> list[bytes]:
    """Real images in every format the API reads, so that uploads (raw bodies and multipart
    files, both declared image/*) reach detection and 200 answers get checked too."""
    pictures = [
        Image.new("RGB", (64, 48), (200, 30, 30)),
        Image.linear_gradient("L").convert("RGB"),
    ]
    samples = [encode_image(p, fmt) for p in pictures for fmt in ("JPEG", "PNG", "WEBP", "GIF")]
    demo = DEMO_DIR / "small-vehicles1.jpeg"
    return samples + ([demo.read_bytes()] * 4 if demo.exists() else [])  # with detections


# Raw image/* and octet-stream bodies, multipart files encoded image/*: real images, and
# sometimes not.
IMAGE_BYTES = st.one_of(st.sampled_from(_image_samples()), st.binary(max_size=64))
schemathesis.openapi.media_type("image/*", IMAGE_BYTES)
schemathesis.openapi.media_type("application/octet-stream", IMAGE_BYTES)


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_its_openapi_document(case):
    """No 5xx; every status, content type and body is the documented one; invalid input 4xx."""
    excluded = []
    if case.media_type == "multipart/form-data":
        # Multipart fields are text on the wire: a "type mutation" (string -> number 0) is
        # sent as the same bytes as a valid "0", so it cannot be told apart. The rejection check
        # is off for multipart bodies only; the other checks (no 5xx, documented statuses and
        # bodies) still run, and tests/test_deepstack.py asserts bad field values are refused.
        excluded.append(negative_data_rejection)
    case.call_and_validate(excluded_checks=excluded)


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    # Loading validates the document against the OpenAPI 3.1 meta-schema.
    loaded = schemathesis.openapi.from_dict(document)
    operations = {(op.method.upper(), op.path) for op in _operations(loaded)}
    assert operations == {
        ("POST", "/detect"),
        ("POST", "/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("POST", "/v1/vision/detection"),
        ("POST", "/v1/vision/custom/{name}"),
        ("GET", "/health"),
        ("GET", "/model"),
        ("GET", "/models"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/"),
    }


def _operations(loaded):
    return [result.ok() for result in loaded.get_all_operations()]


def test_request_schema_and_parser_know_the_same_fields(document):
    request = document["components"]["schemas"]["DetectRequest"]
    assert set(request["properties"]) == set(DETECT_FIELDS)
    assert request["required"] == ["image"]
    assert set(QUERY_OPTIONS) <= set(DETECT_OPTIONS)
    query = {p["name"] for p in document["paths"]["/detect"]["post"]["parameters"]}
    assert query == set(QUERY_OPTIONS)


def test_document_carries_this_servers_defaults_and_labels(yolox_model):
    app = create_app({"default_confidence": 0.4, "default_max_detections": 50}, model=yolox_model)
    options = app.test_client().get("/openapi.json").get_json()["components"]["schemas"]
    options = options["DetectRequest"]["properties"]
    assert options["confidence"]["default"] == 0.4
    assert options["max_detections"]["default"] == 50
    assert options["classes"]["items"]["anyOf"][1]["maximum"] == 79
    assert DETECT_OPTIONS["confidence"].get("default") is None, "the shared schema was mutated"


def _validator(document: dict, name: str):
    """A validator for one component schema, resolving its $refs inside the document."""
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


# The same payloads through the JSON Schema and through the app: both accept or both refuse.
# (Schema-valid payloads the app refuses for their content, like an unknown label, are in
# UNCHECKABLE_BY_SCHEMA below.)
PAYLOADS = [
    ({"image": "QUJD"}, True),
    ({"image": "QUJD", "confidence": 0, "iou": 1, "max_detections": 1}, True),
    ({"image": "QUJD", "max_detections": 2.0}, True),
    ({"image": "QUJD", "classes": ["car", 2], "multi_label": False, "agnostic": True}, True),
    ({"image": "QUJD", "annotate": True}, True),
    ({}, False),
    ([], False),
    ({"image": ""}, False),
    ({"image": 12}, False),
    ({"image": "QUJD", "confidence": 1.5}, False),
    ({"image": "QUJD", "confidence": "0.5"}, False),
    ({"image": "QUJD", "confidence": True}, False),
    ({"image": "QUJD", "iou": None}, False),
    ({"image": "QUJD", "max_detections": 0}, False),
    ({"image": "QUJD", "max_detections": 2.5}, False),
    ({"image": "QUJD", "max_detections": 10001}, False),
    ({"image": "QUJD", "classes": []}, False),
    ({"image": "QUJD", "classes": "car"}, False),
    ({"image": "QUJD", "classes": [-1]}, False),
    ({"image": "QUJD", "classes": [80]}, False),
    ({"image": "QUJD", "annotate": "yes"}, False),
    ({"image": "QUJD", "confidance": 0.5}, False),
    ({"image": "QUJD", "slicing": None}, False),
    ({"image": "QUJD", "classes": None}, False),
]


@pytest.mark.parametrize(("payload", "valid"), PAYLOADS)
def test_request_schema_agrees_with_the_validator(client, document, payload, valid):
    assert _validator(document, "DetectRequest").is_valid(payload) is valid
    response = client.post("/detect", json=payload)
    # "QUJD" is valid base64 but not an image: a valid request gets as far as decoding (422).
    assert response.status_code == (422 if valid else 400), response.get_json()


@pytest.mark.parametrize(
    ("name", "text", "valid"),
    [
        ("confidence", "0.3", True),
        ("confidence", "1", True),
        ("confidence", "abc", False),
        ("confidence", "1.5", False),
        ("iou", "2e-1", True),
        ("max_detections", "5", True),
        ("max_detections", "2.5", False),
        ("classes", "car,7", True),
        ("classes", "unicorn", True),  # schema-valid; the app refuses it for its content
        ("agnostic", "true", True),
        ("agnostic", "1", False),
        ("annotate", "false", True),
    ],
)
def test_query_values_convert_to_what_the_json_schema_takes(document, name, text, valid):
    """A query value converts to the JSON value it stands for, which the JSON schema judges."""
    options = document["components"]["schemas"]["DetectRequest"]["properties"]
    typed = QUERY_OPTIONS[name].convert(text)
    assert jsonschema_rs.Draft202012Validator(options[name]).is_valid(typed) is valid


def test_real_answers_match_the_response_schemas(client, document, demo_jpeg):
    detect = client.post("/detect", json={"image": b64(demo_jpeg), "annotate": True})
    assert detect.status_code == 200
    _validator(document, "DetectResponse").validate(detect.get_json())
    assert detect.get_json()["count"] >= 3
    model = client.get("/model").get_json()
    _validator(document, "ModelDescription").validate(model)
    _validator(document, "Health").validate(client.get("/health").get_json())
    error = client.post("/detect", json={"image": 1}).get_json()
    _validator(document, "Error").validate(error)

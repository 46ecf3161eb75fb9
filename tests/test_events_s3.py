"""The S3 ObjectCreated trigger against moto's S3: recorded events, real model, real images.

Each result object is compared with what POST /detect answers for the same bytes, so the
trigger is held to the API's own output rather than to numbers written here.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from botocore.response import StreamingBody
from PIL import Image

from app import create_app
from app.config import Settings
from app.detector import ModelError
from app.detector.errors import InvalidRequest, PayloadTooLarge
from app.events import handle_s3_event, objects
from app.events.errors import RetryLater
from app.events.records import S3EventRecord
from app.service import DetectionService

from .aws_events import (
    INPUT_BUCKET,
    RECORDED_KEYS,
    inject_error,
    load_event,
    make_client,
    record_calls,
    s3_event,
)
from .conftest import b64, encode_image

RESULTS_BUCKET = "results-bucket"


@pytest.fixture
def s3(moto_aws):
    """moto S3 with the recorded events' bucket (versioned, so results carry a version id)."""
    client = make_client("s3")
    for bucket in (INPUT_BUCKET, RESULTS_BUCKET):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture(scope="module")
def api(yolox_model):
    return create_app(model=yolox_model).test_client()


@pytest.fixture(scope="session")
def demo_png(demo_jpeg) -> bytes:
    return encode_image(Image.open(io.BytesIO(demo_jpeg)), "PNG")


def settings(**overrides) -> Settings:
    return Settings.from_env({}, overrides)


def api_answer(api, data: bytes) -> dict:
    """POST /detect's answer for the same bytes, without the run-to-run timings."""
    response = api.post("/detect", json={"image": b64(data)})
    assert response.status_code == 200, response.get_json()
    return without_timings(response.get_json())


def without_timings(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("timings_ms", "source")}


def stored(s3, key: str, bucket: str = INPUT_BUCKET) -> dict:
    obj = s3.get_object(Bucket=bucket, Key=key)
    assert obj["ContentType"] == "application/json"
    return json.loads(obj["Body"].read())


def all_keys(s3, bucket: str = INPUT_BUCKET) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_recorded_event_gives_each_object_the_api_answer(s3, yolox_model, api, demo_jpeg, demo_png):
    images = dict(zip(RECORDED_KEYS, (demo_jpeg, demo_jpeg, demo_png), strict=True))
    versions = {k: s3.put_object(Bucket=INPUT_BUCKET, Key=k, Body=v) for k, v in images.items()}

    outcome = handle_s3_event(
        load_event("s3_object_created"), DetectionService(settings(), yolox_model), s3=s3
    )

    assert [r["status"] for r in outcome["records"]] == ["ok"] * 3
    for key, data in images.items():
        body = stored(s3, f"detections/{key}.json")
        assert without_timings(body) == api_answer(api, data)
        assert "car" in {d["label"] for d in body["detections"]}
        assert body["source"] == {
            "bucket": INPUT_BUCKET,
            "key": key,
            "etag": versions[key]["ETag"].strip('"'),
            "version_id": versions[key]["VersionId"],
        }
    assert {r["result_key"] for r in outcome["records"]} == {
        f"detections/{k}.json" for k in RECORDED_KEYS
    }


# (as S3 sends the key in a notification, the key as stored)
ENCODED_KEYS = [
    ("uploads/frame-001.jpg", "uploads/frame-001.jpg"),
    ("uploads/my+photo+%281%29.jpg", "uploads/my photo (1).jpg"),
    ("uploads/caf%C3%A9+%2B+plus.png", "uploads/café + plus.png"),
    ("a%2Bb%2Bc.jpg", "a+b+c.jpg"),
    ("100%25+sure.jpg", "100% sure.jpg"),
    ("%E6%97%A5%E6%9C%AC/%F0%9F%93%B7.jpg", "日本/📷.jpg"),
    ("dir%2Fwith%2Fslashes.jpg", "dir/with/slashes.jpg"),
]


@pytest.mark.parametrize(("raw_key", "key"), ENCODED_KEYS)
def test_keys_are_url_decoded(raw_key, key):
    record = S3EventRecord(s3_event(raw_key)["Records"][0])
    assert (record.raw_key, record.key) == (raw_key, key)


def test_recorded_fixture_keys_decode_as_documented():
    records = [S3EventRecord(r) for r in load_event("s3_object_created")["Records"]]
    assert tuple(r.key for r in records) == RECORDED_KEYS


# Objects that are not images: (content, error code the result must carry)
NOT_IMAGES = [
    pytest.param(b"this is a text file, not a picture", "unsupported_image_format", id="text"),
    pytest.param(b"", "empty_image", id="empty"),
]


@pytest.mark.parametrize(("content", "code"), NOT_IMAGES)
def test_bad_object_gets_an_error_result_and_the_others_still_run(
    s3, yolox_model, api, demo_jpeg, content, code
):
    keys = ["uploads/a.jpg", "uploads/bad.jpg", "uploads/b.jpg"]
    for key in keys:
        s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=content if "bad" in key else demo_jpeg)

    outcome = handle_s3_event(s3_event(*keys), DetectionService(settings(), yolox_model), s3=s3)

    assert [r["status"] for r in outcome["records"]] == ["ok", "error", "ok"]
    assert outcome["records"][1]["code"] == code
    bad = stored(s3, "detections/uploads/bad.jpg.json")
    assert set(bad) == {"error", "source"}
    assert bad["error"]["code"] == code
    assert bad["error"]["message"]
    assert bad["source"]["key"] == "uploads/bad.jpg"
    expected = api_answer(api, demo_jpeg)
    for key in ("uploads/a.jpg", "uploads/b.jpg"):
        assert without_timings(stored(s3, f"detections/{key}.json")) == expected


def test_missing_object_gets_source_not_found(s3, yolox_model, demo_jpeg):
    s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/here.jpg", Body=demo_jpeg)

    event = s3_event("uploads/gone.jpg", "uploads/here.jpg")
    outcome = handle_s3_event(event, DetectionService(settings(), yolox_model), s3=s3)

    assert [(r["status"], r.get("code")) for r in outcome["records"]] == [
        ("error", "source_not_found"),
        ("ok", None),
    ]
    assert stored(s3, "detections/uploads/gone.jpg.json")["error"]["code"] == "source_not_found"


def test_results_never_trigger_the_function_again(s3, yolox_model, demo_jpeg):
    s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/frame.jpg", Body=demo_jpeg)
    handle_s3_event(s3_event("uploads/frame.jpg"), DetectionService(settings(), yolox_model), s3=s3)
    before = all_keys(s3)
    gets = record_calls(s3, "GetObject")

    # What S3 would send for the result object if the trigger's prefix filter were missing.
    event = s3_event("detections/uploads/frame.jpg.json")
    outcome = handle_s3_event(event, DetectionService(settings(), yolox_model), s3=s3)

    assert outcome["records"] == [
        {
            "bucket": INPUT_BUCKET,
            "key": "detections/uploads/frame.jpg.json",
            "status": "skipped",
            "code": "result_object",
        }
    ]
    assert gets == []
    assert all_keys(s3) == before == {"uploads/frame.jpg", "detections/uploads/frame.jpg.json"}


def test_with_a_separate_results_bucket_the_prefix_is_an_ordinary_input(s3, yolox_model, demo_jpeg):
    key = "detections/frame.jpg"  # an upload that happens to sit under the results prefix
    s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=demo_jpeg)

    config = settings(results_bucket=RESULTS_BUCKET, results_prefix="out/")
    outcome = handle_s3_event(s3_event(key), DetectionService(config, yolox_model), s3=s3)

    assert outcome["records"][0]["status"] == "ok"
    assert all_keys(s3, RESULTS_BUCKET) == {"out/detections/frame.jpg.json"}
    assert stored(s3, "out/detections/frame.jpg.json", RESULTS_BUCKET)["count"] >= 1


def test_the_same_object_twice_gives_the_same_result(s3, yolox_model, demo_jpeg):
    s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/frame.jpg", Body=demo_jpeg)
    event = s3_event("uploads/frame.jpg")

    first = handle_s3_event(event, DetectionService(settings(), yolox_model), s3=s3)
    body_first = stored(s3, "detections/uploads/frame.jpg.json")
    keys_first = all_keys(s3)
    second = handle_s3_event(event, DetectionService(settings(), yolox_model), s3=s3)
    body_second = stored(s3, "detections/uploads/frame.jpg.json")

    assert first == second
    assert all_keys(s3) == keys_first
    assert {k: v for k, v in body_first.items() if k != "timings_ms"} == {
        k: v for k, v in body_second.items() if k != "timings_ms"
    }
    assert set(body_first["timings_ms"]) == set(body_second["timings_ms"])  # only values differ


LIMIT_BYTES = 50_000


def test_object_announced_over_the_limit_is_never_downloaded(s3, yolox_model):
    gets = record_calls(s3, "GetObject")
    event = s3_event("uploads/huge.jpg", size=LIMIT_BYTES + 1)  # the object need not even exist

    outcome = handle_s3_event(
        event, DetectionService(settings(s3_max_object_bytes=LIMIT_BYTES), yolox_model), s3=s3
    )

    assert outcome["records"][0]["code"] == "object_too_large"
    assert gets == []
    error = stored(s3, "detections/uploads/huge.jpg.json")["error"]
    assert f"{LIMIT_BYTES:,}" in error["message"]


def test_object_larger_than_announced_is_refused_from_its_content_length(
    s3, yolox_model, demo_jpeg
):
    assert len(demo_jpeg) > LIMIT_BYTES
    s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/big.jpg", Body=demo_jpeg)
    event = s3_event("uploads/big.jpg", size=1000)  # the notification under-states the size

    outcome = handle_s3_event(
        event, DetectionService(settings(s3_max_object_bytes=LIMIT_BYTES), yolox_model), s3=s3
    )

    assert outcome["records"][0]["code"] == "object_too_large"
    message = stored(s3, "detections/uploads/big.jpg.json")["error"]["message"]
    assert f"{len(demo_jpeg):,} bytes" in message


class _NoLengthS3:
    """Stands in for S3 answering without Content-Length, which moto cannot be made to do.

    The body is botocore's real StreamingBody over the bytes, as boto3 hands it out.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.read_sizes: list[int] = []

    def get_object(self, Bucket, Key):  # noqa: N803 - boto3's parameter names
        body = StreamingBody(io.BytesIO(self.data), len(self.data))
        real_read = body.read
        body.read = lambda amt=None: self.read_sizes.append(amt) or real_read(amt)
        return {"Body": body, "ETag": '"abc"'}


@pytest.mark.parametrize("size_bytes", [LIMIT_BYTES, LIMIT_BYTES + 1, 10 * LIMIT_BYTES])
def test_bounded_read_without_content_length(size_bytes):
    client = _NoLengthS3(b"x" * size_bytes)

    if size_bytes > LIMIT_BYTES:
        with pytest.raises(PayloadTooLarge, match="larger than the limit"):
            objects.read_object(client, "b", "k", max_bytes=LIMIT_BYTES)
    else:
        assert len(objects.read_object(client, "b", "k", max_bytes=LIMIT_BYTES).data) == size_bytes
    assert client.read_sizes == [LIMIT_BYTES + 1]  # never more than the limit plus one byte


# AWS failures on the middle of three records: (operation, status, code, what must happen)
AWS_FAILURES = [
    pytest.param("GetObject", 503, "SlowDown", "retry", id="get_throttled"),
    pytest.param("GetObject", 500, "InternalError", "retry", id="get_5xx"),
    pytest.param("PutObject", 503, "ServiceUnavailable", "retry", id="put_5xx"),
    pytest.param("GetObject", 403, "AccessDenied", "source_access_denied", id="get_denied"),
    pytest.param("GetObject", 403, "InvalidObjectState", "source_unreadable", id="archived"),
]


@pytest.mark.parametrize(("operation", "status", "code", "expect"), AWS_FAILURES)
def test_aws_failure_on_one_record(s3, yolox_model, demo_jpeg, operation, status, code, expect):
    keys = ["uploads/a.jpg", "uploads/flaky.jpg", "uploads/b.jpg"]
    for key in keys:
        s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=demo_jpeg)
    # GetObject reads the upload, PutObject writes its result: fail only that request.
    failing_key = {"GetObject": keys[1], "PutObject": f"detections/{keys[1]}.json"}[operation]
    inject_error(s3, operation, status=status, code=code, when=lambda p: p["Key"] == failing_key)

    if expect == "retry":
        with pytest.raises(RetryLater, match=r"1 of 3 record\(s\) failed.*flaky\.jpg"):
            handle_s3_event(s3_event(*keys), DetectionService(settings(), yolox_model), s3=s3)
        assert "detections/uploads/flaky.jpg.json" not in all_keys(s3)
    else:
        outcome = handle_s3_event(s3_event(*keys), DetectionService(settings(), yolox_model), s3=s3)
        assert outcome["records"][1]["code"] == expect
        assert stored(s3, "detections/uploads/flaky.jpg.json")["error"]["code"] == expect
    # The records around the failing one were processed either way.
    assert {"detections/uploads/a.jpg.json", "detections/uploads/b.jpg.json"} <= all_keys(s3)


def test_records_that_are_not_uploads_of_images_are_skipped(s3, yolox_model):
    event = s3_event("uploads/", "uploads/deleted.jpg", "uploads/broken.jpg")
    event["Records"][1]["eventName"] = "ObjectRemoved:Delete"
    del event["Records"][2]["s3"]["object"]  # a malformed record must not stop the others

    outcome = handle_s3_event(event, DetectionService(settings(), yolox_model), s3=s3)

    assert [(r["status"], r["code"]) for r in outcome["records"]] == [
        ("skipped", "folder_marker"),
        ("skipped", "not_object_created"),
        ("skipped", "malformed_record"),
    ]
    assert all_keys(s3) == set()


def test_not_an_s3_event_is_refused(yolox_model):
    with pytest.raises(InvalidRequest, match="Not an S3 event"):
        handle_s3_event(
            load_event("iot_rule_s3_ref"), DetectionService(settings(), yolox_model), s3=object()
        )


def test_without_a_model_the_invocation_fails_for_a_retry():
    event = load_event("s3_object_created")
    with pytest.raises(ModelError, match="not loaded"):
        handle_s3_event(event, DetectionService(settings(), None), s3=object())


def test_a_synthetic_image_without_objects_gives_an_empty_result(s3, yolox_model):
    grey = encode_image(np.full((240, 320, 3), 127, np.uint8), "PNG")
    s3.put_object(Bucket=INPUT_BUCKET, Key="uploads/grey.png", Body=grey)

    handle_s3_event(s3_event("uploads/grey.png"), DetectionService(settings(), yolox_model), s3=s3)

    body = stored(s3, "detections/uploads/grey.png.json")
    assert (body["count"], body["detections"]) == (0, [])
    assert body["image"] == {"width": 320, "height": 240}

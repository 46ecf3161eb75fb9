"""API keys: settings validation, the before_request check, SSM loading (moto), and secrecy."""

from __future__ import annotations

import logging
import subprocess
import sys

import boto3
import numpy as np
import pytest
from moto import mock_aws

from app import create_app
from app.config import Settings
from app.detector import ConfigError
from app.http import auth
from tests.conftest import REPO_ROOT, b64, encode_image
from tests.hostile import error_problems

KEY_A = "alpha-0123456789abcdef"
KEY_B = "bravo-fedcba9876543210"
SSM_NAME = "/detect-api/api-keys"


@pytest.fixture
def keyed_client(yolox_model):
    return create_app({"api_keys": f"{KEY_A},{KEY_B}"}, model=yolox_model).test_client()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({}, 401, id="no_key"),
        pytest.param({"x-api-key": KEY_A}, 200, id="x_api_key_first"),
        pytest.param({"X-API-KEY": KEY_B}, 200, id="x_api_key_second_any_case"),
        pytest.param({"x-api-key": f"  {KEY_A} "}, 200, id="x_api_key_padded"),
        pytest.param({"Authorization": f"Bearer {KEY_A}"}, 200, id="bearer"),
        pytest.param({"Authorization": f"bearer {KEY_B}"}, 200, id="bearer_lower_case"),
        pytest.param({"x-api-key": "nope", "Authorization": f"Bearer {KEY_A}"}, 200, id="either"),
        pytest.param({"x-api-key": "wrong-0123456789abcdef"}, 401, id="wrong_key"),
        pytest.param({"x-api-key": KEY_A[:-1]}, 401, id="prefix_of_a_key"),
        pytest.param({"x-api-key": KEY_A + "x"}, 401, id="key_plus_one"),
        pytest.param({"x-api-key": f"{KEY_A},{KEY_B}"}, 401, id="the_whole_setting"),
        pytest.param({"x-api-key": KEY_A * 2000}, 401, id="huge_header"),
        pytest.param({"Authorization": f"Basic {KEY_A}"}, 401, id="basic_scheme"),
        pytest.param({"Authorization": KEY_A}, 401, id="no_scheme"),
        pytest.param({"Authorization": "Bearer "}, 401, id="empty_bearer"),
        pytest.param({"x-api-key": ""}, 401, id="empty_header"),
    ],
)
def test_keys_are_required_on_detect(keyed_client, headers, status):
    image = b64(encode_image(np.zeros((32, 32, 3), np.uint8), "PNG"))
    response = keyed_client.post("/detect", json={"image": image}, headers=headers)

    assert response.status_code == status, response.get_json()
    if status == 401:
        assert error_problems(401, response.content_type, response.get_data()) == []
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert KEY_A not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),  # load balancers and uptime checks carry no key
        ("OPTIONS", "/detect", 200),  # CORS preflight never carries credentials
        ("GET", "/static/demo.js", 200),  # the pages and their files hold no data
        ("GET", "/docs", 200),
        ("GET", "/model", 401),
        ("GET", "/nope", 401),  # no route probing without a key
        ("GET", "/detect", 401),
        ("POST", "/health", 401),
    ],
)
def test_what_stays_open(keyed_client, method, path, status):
    assert keyed_client.open(path, method=method).status_code == status


def test_auth_comes_before_the_body_is_read(keyed_client):
    response = keyed_client.post("/detect", data=b"{" * 10, content_type="text/plain")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_every_key_is_compared_whichever_matches(monkeypatch):
    ring = auth.KeyRing.of(("a" * 16, "b" * 16, "c" * 16))
    calls = []
    real_compare = auth.hmac.compare_digest

    def counting(left, right):
        calls.append((len(left), len(right)))
        return real_compare(left, right)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    for presented, expected in [
        ("a" * 16, True),
        ("c" * 16, True),
        ("d" * 16, False),
        ("x", False),
    ]:
        calls.clear()
        assert ring.accepts(presented) is expected
        assert calls == [(32, 32)] * 3  # fixed-length digests: no length leak either


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"api_keys": f"{KEY_A},,{KEY_B}"}, "key 2 of 3 is empty"),
        ({"api_keys": f"{KEY_A},"}, "key 2 of 2 is empty"),
        ({"api_keys": "short"}, "16 to 1024 characters"),
        ({"api_keys": "k" * 1025}, "16 to 1024 characters"),
        ({"api_keys": "with space 0123456789"}, "whitespace"),
        ({"api_keys": "tab\tinside-0123456789"}, "whitespace"),
        ({"api_keys": "non-ascii-é-0123456789"}, "non-ASCII"),
        ({"api_keys": "nul\x00inside-0123456789"}, "control"),
        ({"api_keys": ["a-list-0123456789abcdef"]}, "comma-separated"),
        ({"api_keys": KEY_A, "api_keys_ssm_parameter": SSM_NAME}, "not both"),
        ({"api_keys_ssm_parameter": "  "}, "parameter name"),
    ],
)
def test_bad_key_settings_stop_start_up(settings, words):
    with pytest.raises(ConfigError, match=words) as caught:
        Settings.from_env({}, settings)
    assert KEY_A not in caught.value.message


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        (KEY_A, (KEY_A,)),
        (f" {KEY_A} , {KEY_B} ", (KEY_A, KEY_B)),
        (f"{KEY_A}\n{KEY_B}\n", (KEY_A, KEY_B)),
        (f"{KEY_A},\n{KEY_B}", (KEY_A, KEY_B)),
    ],
)
def test_key_lists_from_the_environment(raw, keys):
    settings = Settings.from_env({"API_KEYS": raw})
    assert auth.load_api_keys(settings) == keys
    assert KEY_A not in repr(settings)


def test_blank_setting_means_no_authentication(yolox_model):
    client = create_app({}, model=yolox_model).test_client()
    assert Settings.from_env({"API_KEYS": "  "}).api_keys is None
    assert client.get("/model").status_code == 200


def test_keys_never_reach_the_log(yolox_model, caplog):
    caplog.set_level(logging.DEBUG)
    client = create_app({"api_keys": f"{KEY_A},{KEY_B}"}, model=yolox_model).test_client()
    client.get("/model", headers={"x-api-key": KEY_A})
    client.get("/model", headers={"x-api-key": KEY_B[:-1] + "!"})
    client.get("/model", headers={"Authorization": f"Bearer {KEY_B}x"})

    assert "API keys: on, 2 key(s)" in caplog.text
    assert KEY_A not in caplog.text and KEY_B[:-1] not in caplog.text


@pytest.fixture
def aws(monkeypatch):
    # moto fakes SSM in-process: no credentials or network are used.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("ssm")


def test_keys_from_an_ssm_secure_string(aws, yolox_model):
    aws.put_parameter(Name=SSM_NAME, Value=f"{KEY_A},{KEY_B}", Type="SecureString")
    client = create_app({"api_keys_ssm_parameter": SSM_NAME}, model=yolox_model).test_client()

    assert client.get("/model").status_code == 401
    assert client.get("/model", headers={"x-api-key": KEY_B}).status_code == 200
    # Read once at cold start: a rotation in SSM needs a new execution environment.
    aws.put_parameter(Name=SSM_NAME, Value=KEY_A, Type="SecureString", Overwrite=True)
    assert client.get("/model", headers={"x-api-key": KEY_B}).status_code == 200


@pytest.mark.parametrize(
    "value", [None, "short", f"{KEY_A},,"], ids=["missing", "too_short", "empty_key"]
)
def test_unusable_ssm_keys_fail_closed(aws, yolox_model, caplog, value):
    if value is not None:
        aws.put_parameter(Name=SSM_NAME, Value=value, Type="SecureString")
    settings = {"api_keys_ssm_parameter": SSM_NAME}
    with pytest.raises(ConfigError, match=SSM_NAME):
        create_app(settings, model=yolox_model)  # the local server stops with the reason

    client = create_app(settings, model=yolox_model, fail_fast=False).test_client()  # Lambda
    assert client.get("/health").status_code == 200
    for path in ("/model", "/detect"):
        response = client.open(path, method="GET" if path == "/model" else "POST")
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "auth_unavailable"
    assert "API keys could not be loaded" in caplog.text


def test_boto3_is_imported_only_for_ssm():
    script = (
        "import sys\n"
        "from app.http.auth import load_api_keys\n"
        "from app.config import Settings\n"
        f"assert load_api_keys(Settings(api_keys={KEY_A!r})) == ({KEY_A!r},)\n"
        "assert load_api_keys(Settings()) is None\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"

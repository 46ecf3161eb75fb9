"""Settings of the S3 and IoT triggers: parsed from the environment, refused at cold start."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from app import config_checks
from app.config import Settings
from app.config_checks import EventSettings
from app.detector import ConfigError


def test_defaults():
    settings = Settings.from_env({})
    assert settings.results_bucket is None  # results go beside their source object
    assert settings.results_prefix == "detections/"
    assert settings.s3_max_object_bytes == 20 * 1024 * 1024
    assert settings.iot_result_topic == "detections/{device_id}"
    assert settings.iot_data_endpoint is None


def test_environment_is_parsed():
    settings = Settings.from_env(
        {
            "RESULTS_BUCKET": "my-results.example",
            "RESULTS_PREFIX": "out/detections/",
            "S3_MAX_OBJECT_BYTES": "1048576",
            "IOT_RESULT_TOPIC": "sites/a/{device_id}/detections",
            "IOT_DATA_ENDPOINT": "https://abc123-ats.iot.eu-west-1.amazonaws.com",
        }
    )
    assert settings.results_bucket == "my-results.example"
    assert settings.results_prefix == "out/detections/"
    assert settings.s3_max_object_bytes == 1_048_576
    assert settings.iot_result_topic == "sites/a/{device_id}/detections"
    assert settings.iot_data_endpoint == "https://abc123-ats.iot.eu-west-1.amazonaws.com"


BAD_ENVIRONMENTS = [
    ({"RESULTS_BUCKET": "Has_Capitals"}, "RESULTS_BUCKET='Has_Capitals' is not a valid"),
    ({"RESULTS_BUCKET": "ab"}, "RESULTS_BUCKET"),
    ({"RESULTS_BUCKET": "x" * 64}, "RESULTS_BUCKET"),
    ({"RESULTS_PREFIX": "/detections/"}, "no leading '/'"),
    ({"RESULTS_PREFIX": "p" * 513}, "RESULTS_PREFIX"),
    ({"S3_MAX_OBJECT_BYTES": "0"}, "S3_MAX_OBJECT_BYTES=0 is out of range"),
    ({"S3_MAX_OBJECT_BYTES": "20MB"}, "S3_MAX_OBJECT_BYTES='20MB' is not a valid int"),
    ({"IOT_RESULT_TOPIC": "detections/all"}, "must contain {device_id} exactly once"),
    ({"IOT_RESULT_TOPIC": "{device_id}/{device_id}"}, "IOT_RESULT_TOPIC"),
    ({"IOT_RESULT_TOPIC": "detections/+/{device_id}"}, "wildcards"),
    ({"IOT_RESULT_TOPIC": "detections/{device_id}/#"}, "IOT_RESULT_TOPIC"),
    ({"IOT_RESULT_TOPIC": "$aws/things/{device_id}"}, "not start with \\$"),
    ({"IOT_RESULT_TOPIC": "{site}/{device_id}"}, "no other braces"),
    ({"IOT_RESULT_TOPIC": "t" * 128 + "/{device_id}"}, "256 bytes"),
    ({"IOT_DATA_ENDPOINT": "http://iot.example"}, "must be an https:// URL"),
]


@pytest.mark.parametrize(("environ", "message"), BAD_ENVIRONMENTS)
def test_bad_environment_fails_at_start_with_the_variable_named(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_an_empty_prefix_is_refused_even_as_an_override():
    # From the environment "" means unset; only code can pass it, and it must not slip through:
    # with no prefix, every result would look like an upload (no recursion guard).
    with pytest.raises(ConfigError, match="RESULTS_PREFIX"):
        Settings.from_env({}, {"results_prefix": ""})


def test_the_longest_allowed_topic_fits_aws_iot():
    template = "t" * (256 - 128 - 1) + "/{device_id}"  # 127 + 1 + a 128-character device id
    assert Settings.from_env({"IOT_RESULT_TOPIC": template}).iot_result_topic == template
    with pytest.raises(ConfigError, match="256 bytes"):
        Settings.from_env({"IOT_RESULT_TOPIC": "t" + template})


def test_the_checks_read_settings_fields_of_the_types_they_expect():
    # app/config_checks.py describes what it reads of Settings as a protocol (so it need not
    # import app/config.py, which imports it); a renamed or retyped field must show up here.
    fields = {field.name: field.type for field in dataclasses.fields(Settings)}
    members = {
        name: member.fget.__annotations__["return"]
        for name, member in vars(EventSettings).items()
        if isinstance(member, property)
    }
    assert {name: fields.get(name) for name in members} == members
    # ...and the protocol names every field the checks read off `settings`.
    tree = ast.parse(inspect.getsource(config_checks))
    attributes = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)]
    read = {node.attr for node in attributes if getattr(node.value, "id", "") == "settings"}
    assert read == set(members)

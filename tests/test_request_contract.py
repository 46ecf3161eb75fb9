"""The request is declared once (app/schemas/request.py): the validator and the served JSON Schema
both come from it, so they agree on any payload, and a new field needs nothing else."""

from __future__ import annotations

from typing import Literal

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import UNSET, UnsetType

from app.config import Settings
from app.detector import InvalidRequest
from app.detector.decode import LAYOUTS
from app.schemas.contract import component_schemas, request_schema
from app.schemas.detect import parse_detect_options, parse_detect_request
from app.schemas.request import DETECT_FIELDS, SLICING_FIELDS, DetectOptionsRequest
from app.schemas.validation import validated

SETTINGS = Settings.from_env({})

# Values around every boundary the declared fields have, and wrong types for each.
UNIT = [0, 0.25, 1, 1.0, 1.5, -0.1, 1e300, "0.5", True, None]
FLAGS = [True, False, 0, 1, "true", None]
NEAR = {
    "confidence": st.sampled_from(UNIT),
    "iou": st.sampled_from(UNIT),
    "max_detections": st.sampled_from([1, 2.0, 2.5, 0, 300, 10_000, 10_001, -0.0, "5", None]),
    "classes": st.one_of(
        st.lists(st.sampled_from([0, 2, 2.0, 79, 80, -1, "car", "CAR", " bus ", True, [2]])),
        st.sampled_from(["car", None, 2]),
    ),
    "multi_label": st.sampled_from(FLAGS),
    "agnostic": st.sampled_from(FLAGS),
    "annotate": st.sampled_from(FLAGS),
    "image": st.sampled_from(["QUJD", 12]),
}
SLICING_VALUES = st.sampled_from(
    [None, True, False, 0, 1, -1, 0.0, 0.2, 0.9, 0.95, 1.0, 1.5, 31, 32, 416, 4096, 4097,
     416.0, 416.5, "", "on", "off", "auto", "ON", "nms", "greedy_nmm", "iou", "ios", "416",
     [], [416], [320, 256], [416.0, 416], [31, 416], [416, 416, 416], [True, 416], {}]
)  # fmt: skip
NEAR["slicing"] = st.one_of(
    st.dictionaries(st.sampled_from([*SLICING_FIELDS, "tiles"]), SLICING_VALUES, max_size=3),
    st.sampled_from([None, [], "on"]),
)
JUNK = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-5, 5),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(), inner, max_size=2),
    max_leaves=4,
)


def _value(name: str) -> st.SearchStrategy:
    """Mostly a near-valid value for the field (3 in 4), so that both verdicts are common."""
    if name not in NEAR:
        return JUNK
    return st.integers(0, 3).flatmap(lambda pick: NEAR[name] if pick else JUNK)


OPTIONS = st.lists(
    st.sampled_from([*DETECT_FIELDS, "confidance"]), unique=True, max_size=4
).flatmap(lambda names: st.fixed_dictionaries({name: _value(name) for name in names}))


@pytest.fixture(scope="module")
def served_options(yolox_model) -> dict:
    """The JobRequest "options" schema /openapi.json serves with this model loaded."""
    schemas = component_schemas(list(LAYOUTS), SETTINGS, yolox_model.info)
    return schemas["JobRequest"]["properties"]["options"]


def _accepted(payload: dict, model) -> bool:
    try:
        parse_detect_options(payload, SETTINGS, model.info)
    except InvalidRequest:
        return False
    return True


def _content_refusal(payload: dict, labels: set[str]) -> bool:
    """A label the model does not know: schema-valid (a string), refused for its content."""
    classes = payload.get("classes")
    return isinstance(classes, list) and any(
        isinstance(c, str) and c.strip().lower() not in labels for c in classes
    )


@settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=OPTIONS)
def test_served_schema_and_validator_agree_on_any_options(served_options, yolox_model, payload):
    payload.pop("image", None)  # options without an image, as a job sends them
    labels = {name.lower() for name in yolox_model.info.class_names}
    by_schema = jsonschema_rs.validator_for(served_options).is_valid(payload)
    if by_schema and _content_refusal(payload, labels):
        assert not _accepted(payload, yolox_model)
    else:
        assert _accepted(payload, yolox_model) is by_schema, payload


def test_every_field_has_a_message_naming_it_and_what_it_takes():
    defaults = Settings.from_env({})
    wrong_type = {"slicing": [1]}  # every other field takes neither an object nor a list of it
    for name in [f for f in DETECT_FIELDS if f != "image"]:
        with pytest.raises(InvalidRequest) as caught:
            parse_detect_options({name: wrong_type.get(name, {"x": 1})}, defaults, None)
        assert caught.value.code == "invalid_field"
        assert caught.value.message.startswith(f'The field "{name}" must be ')
        assert "a valid value" not in caught.value.message  # worded from the declaration
    for name in SLICING_FIELDS:
        with pytest.raises(InvalidRequest) as caught:
            parse_detect_options({"slicing": {name: {"x": 1}}}, defaults, None)
        assert caught.value.message.startswith(f'The field "slicing.{name}" must be ')


def test_integral_floats_are_the_integers_they_spell(yolox_model):
    """JSON has one number type; the schema's "integer" takes 2.0, so the validator does too."""
    params = parse_detect_options(
        {"max_detections": 5.0, "classes": [2.0], "slicing": {"tile": [320.0, 256]}},
        SETTINGS,
        yolox_model.info,
    )
    assert params.options.max_detections == 5 and params.options.class_ids == {2}
    assert params.options.slicing.tile_wh == (320, 256)


def test_options_alone_are_checked_as_in_a_request_and_an_image_is_not_read(yolox_model):
    info = yolox_model.info
    params = parse_detect_options({"image": 12, "annotate": True}, SETTINGS, info)
    assert params.annotate is True and params.options.confidence == SETTINGS.default_confidence
    for payload in ({"confidence": 2}, {"classes": ["unicorn"]}, {"slicing": {"tiles": 4}}):
        with pytest.raises(InvalidRequest) as alone:
            parse_detect_options(payload, SETTINGS, info)
        with pytest.raises(InvalidRequest) as in_request:
            parse_detect_request({"image": "QUJD", **payload}, SETTINGS, info, max_image_bytes=9)
        assert alone.value.code == in_request.value.code
        assert alone.value.message == in_request.value.message


class _WithModel(DetectOptionsRequest, kw_only=True):
    """The declaration plus one field, as a new option is added."""

    model: Literal["yolox_nano", "visdrone"] | UnsetType = UNSET


def test_a_new_field_is_validated_and_documented_from_its_one_line():
    assert request_schema(_WithModel)["properties"]["model"] == {"enum": ["visdrone", "yolox_nano"]}
    assert validated({"model": "visdrone"}, _WithModel).model == "visdrone"
    with pytest.raises(InvalidRequest) as caught:
        validated({"model": "yolov9"}, _WithModel)
    assert caught.value.code == "invalid_field"
    assert caught.value.message == 'The field "model" must be one of "visdrone", "yolox_nano".'

"""The OpenAPI schema of "slicing" (app/schemas/contract.py) and its parser (app/schemas/slicing.py)
agree on every sub-field: each candidate value is valid for the schema exactly when the parser
takes it."""

from __future__ import annotations

import jsonschema_rs
import pytest

from app.config import Settings
from app.detector import InvalidRequest
from app.schemas.contract import DETECT_OPTIONS
from app.schemas.slicing import SLICING_FIELDS, parse_slicing

# Candidates around every boundary the fields have: types, enums, ranges, tile shapes.
CANDIDATES = [
    None, True, False, 0, 1, -1, 0.0, 0.5, 0.9, 0.900001, 1.0, 1.5, -0.1, 2,
    31, 32, 416, 4096, 4097, 416.0, 416.5,
    "", "on", "off", "auto", "ON", "nms", "greedy_nmm", "NMS", "iou", "ios", "x", "416",
    [], [416], [416, 416], [32, 4096], [31, 416], [416, 4097], [416, 416, 416], [416.0, 416],
    [True, 416], ["416", 416], {}, {"mode": "on"},
]  # fmt: skip
SCHEMA = DETECT_OPTIONS["slicing"]


def test_the_schema_lists_exactly_the_parsers_fields():
    assert set(SCHEMA["properties"]) == set(SLICING_FIELDS)
    assert SCHEMA.get("additionalProperties") is False


@pytest.mark.parametrize("field", sorted(SLICING_FIELDS))
def test_schema_and_parser_agree_on_every_candidate(field):
    validator = jsonschema_rs.validator_for(SCHEMA)
    defaults = Settings.from_env({}).slicing_defaults()
    disagreements = []
    for value in CANDIDATES:
        body = {field: value}
        by_schema = validator.is_valid(body)
        try:
            parse_slicing(body, defaults)
            by_parser = True
        except InvalidRequest:
            by_parser = False
        if by_schema != by_parser:
            disagreements.append((value, f"schema {by_schema}, parser {by_parser}"))
    assert disagreements == []


def test_every_field_has_valid_and_invalid_candidates():
    """Otherwise the agreement above would prove nothing for that field."""
    validator = jsonschema_rs.validator_for(SCHEMA)
    for field in SLICING_FIELDS:
        verdicts = {validator.is_valid({field: value}) for value in CANDIDATES}
        assert verdicts == {True, False}, field

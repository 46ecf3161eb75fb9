"""Request data stays data in the logs: a path, S3 key or message from a client cannot end a log
line and write one of its own (no raw CR, LF or NUL), in text logs and in JSON logs."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest

from app.config import Settings
from app.events import handle_s3_event
from app.observability import JsonFormatter, TextFormatter, escape_controls, loggable
from app.service import DetectionService
from tests.aws_events import s3_event

FORGED = "2026-12-04 15:00:00,000 INFO app.requests: FORGED LINE"
# The requests: a forged line after %0a, CR LF on /jobs/<id>, a NUL.
FORGED_IN_URL = FORGED.replace(" ", "%20")
FORGING_PATHS = [
    ("POST", "/v1/vision/custom/x%0a" + FORGED_IN_URL),  # the request, verbatim
    ("GET", "/jobs/x%0d%0a" + FORGED_IN_URL),
    ("GET", "/jobs/x%00y"),
    ("POST", "/detect%e2%80%a8" + FORGED_IN_URL),  # U+2028, a line break to some readers
]
# What a text log line of the project looks like (app/observability.py TEXT_FORMAT).
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: \S.*")


@pytest.fixture
def captured_logs():
    """The app's log records as the text and the JSON formatters write them."""
    text, json_lines = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(json_lines)]
    handlers[0].setFormatter(TextFormatter())
    handlers[1].setFormatter(JsonFormatter())
    logger = logging.getLogger("app")
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    for handler in handlers:
        logger.addHandler(handler)
    yield text, json_lines
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(previous_level)


def test_forged_request_paths_write_one_log_line_each(client, captured_logs):
    text, json_lines = captured_logs
    for method, path in FORGING_PATHS:
        assert client.open(path, method=method).status_code in {404, 503}
    lines = text.getvalue().split("\n")
    assert lines.pop() == ""  # the text ends with a newline
    for line in lines:  # every line is a record of ours (the 503s of /jobs log one more each)
        assert TEXT_LINE.fullmatch(line), line
        assert "\r" not in line and "\x00" not in line and "\u2028" not in line
    lines = [line for line in lines if " app.requests: " in line]
    assert len(lines) == len(FORGING_PATHS)  # one request, one line: nothing forged
    assert "custom/x\\n2026-12-04 15:00:00,000 INFO app.requests: FORGED LINE 404" in lines[0]
    assert "/jobs/x\\r\\n2026" in lines[1] and "/jobs/x\\x00y" in lines[2]
    docs = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    docs = [doc for doc in docs if doc["logger"] == "app.requests"]
    assert len(docs) == len(FORGING_PATHS)
    # In JSON the path is a string field of its own, exactly as the client sent it (decoded).
    assert docs[0]["path"] == "/v1/vision/custom/x\n" + FORGED
    assert docs[2]["path"] == "/jobs/x\x00y" and docs[3]["path"] == "/detect\u2028" + FORGED


def test_an_s3_key_with_a_newline_stays_on_its_line(captured_logs, yolox_model):
    text, _ = captured_logs
    key = "uploads/x\n" + FORGED + "/"  # a folder marker: logged as skipped
    event = s3_event(key.replace("\n", "%0A").replace(" ", "+"))
    outcome = handle_s3_event(event, DetectionService(Settings(), yolox_model), s3=object())
    assert outcome["records"][0]["code"] == "folder_marker"
    (line,) = text.getvalue().splitlines()
    assert "s3://" in line and "uploads/x\\n2026-12-04" in line


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        ("/detect", "/detect"),
        ("a\nb", "a\\nb"),
        ("a\r\nb", "a\\r\\nb"),
        ("nul\x00", "nul\\x00"),
        ("esc\x1b[31m", "esc\\x1b[31m"),  # no terminal colours from a client either
        ("del\x7f c1\x85", "del\\x7f c1\\x85"),
        ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
        ("tab\t", "tab\\t"),
        ("back\\nslash", "back\\\\nslash"),  # a literal backslash-n cannot pass for an escape
        ("x" * 600, "x" * 500 + "..."),
        ("café ☕", "café ☕"),  # printable non-ASCII stays readable
    ],
)
def test_loggable(value, logged):
    assert loggable(value) == logged


def test_text_formatter_escapes_a_value_logged_raw_and_indents_tracebacks():
    try:
        raise ValueError("bad\n" + FORGED)
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord("app.x", logging.ERROR, __file__, 1, "%s", ("raw\n" + FORGED,), None)
    record.exc_info = exc_info
    first, *rest = TextFormatter().format(record).split("\n")
    assert first.endswith("app.x: raw\\n" + FORGED) and TEXT_LINE.fullmatch(first)
    assert rest and all(line.startswith("    ") for line in rest)
    assert any("ValueError: bad" in line for line in rest)
    assert escape_controls("a\x00\r\n") == "a\\x00\\r\\n"

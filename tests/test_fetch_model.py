"""Tests for app.cli.fetch_model against a real HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.cli import fetch_model as fm
from app.cli import model_source
from app.cli.fetch_model import FetchError, FetchResult, fetch_model, main
from tests.conftest import SHARED

# Several read chunks, so the streaming size limit is exercised mid-transfer.
PAYLOAD_BYTES = 200_000
MODEL_PATH = "/model.onnx"
CI_OFFLINE_COPY = SHARED / "models" / "yolox_nano.onnx"


@dataclass
class Route:
    body: bytes
    status: int = 200
    declared_bytes: int | None = None  # Content-Length to send; None omits the header
    hang: bool = False  # accept the request but never answer (timeout test)


@dataclass
class FakeServer:
    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = MODEL_PATH) -> str:
        return self.base_url + path

    def serve(self, path: str, body: bytes, *, declare: bool = True, **kwargs: object) -> None:
        declared = len(body) if declare else None
        self.routes[path] = Route(body, declared_bytes=declared, **kwargs)  # type: ignore[arg-type]


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0 closes after each reply, so a body without Content-Length ends at EOF.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        state: FakeServer = self.server.state  # type: ignore[attr-defined]
        state.requests.append(self.path)
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        if route.hang:
            state.release.wait(timeout=10)
            return
        self.send_response(route.status)
        if route.declared_bytes is not None:
            self.send_header("Content-Length", str(route.declared_bytes))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client aborts on purpose at the size limit
            self.wfile.write(route.body)

    def log_message(self, *args: object) -> None:
        pass  # keep pytest output clean


@pytest.fixture(autouse=True)
def _no_env_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fm.SOURCE_ENV_VAR, raising=False)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    host, port = httpd.server_address[:2]
    state = FakeServer(base_url=f"http://{host}:{port}")
    httpd.state = state  # type: ignore[attr-defined]
    # A short poll interval keeps shutdown() (and so each test's teardown) fast.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def payload() -> bytes:
    return os.urandom(PAYLOAD_BYTES)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "model" / "yolox_nano.onnx"


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{MODEL_PATH}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def onnx_like(extra_bytes: int = 1000) -> bytes:
    """Bytes that pass the cheap ONNX sanity check but differ from the official file."""
    return fm.ONNX_FIRST_BYTE + b"\x07" + os.urandom(extra_bytes)


def fetch_from(server: FakeServer, dest: Path, payload: bytes, **overrides: object) -> FetchResult:
    kwargs: dict[str, object] = {
        "url": server.url(),
        "sha256": sha256_hex(payload),
        "size_bytes": len(payload),
        "timeout_s": 5.0,
    }
    kwargs.update(overrides)
    return fetch_model(dest, **kwargs)  # type: ignore[arg-type]


def sidecar_origin(dest: Path) -> str:
    return dest.with_name(dest.name + ".source").read_text(encoding="utf-8").split()[0]


def leftover_files(directory: Path, *expected: str) -> set[str]:
    """Names in directory other than the expected ones (temp files would show up here)."""
    if not directory.exists():
        return set()
    return set(os.listdir(directory)) - set(expected)


def test_defaults_are_the_official_yolox_nano_release() -> None:
    assert fm.DEFAULT_URL.endswith("/0.1.1rc0/yolox_nano.onnx")
    assert fm.DEFAULT_SIZE_BYTES == 3_659_407
    assert fm.DEFAULT_SHA256 == "c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d"
    assert fm.DEFAULT_DEST.parts[-2:] == ("model", "yolox_nano.onnx")
    assert (fm.DEFAULT_DEST.parent.parent / "app" / "cli" / "fetch_model.py").is_file()


def test_download_installs_verified_file(server: FakeServer, payload: bytes, dest: Path) -> None:
    server.serve(MODEL_PATH, payload)

    result = fetch_from(server, dest, payload)

    assert result == FetchResult(dest, sha256_hex(payload), "download")
    assert dest.read_bytes() == payload
    assert sidecar_origin(dest) == "download"
    assert server.requests == [MODEL_PATH]
    assert leftover_files(dest.parent, dest.name, dest.name + ".source") == set()


@pytest.mark.parametrize(
    ("case", "expected_fragments"),
    [
        ("checksum", ["sha256 mismatch", "expected " + "0" * 64]),
        ("declared_too_big", ["size mismatch", f"expected {PAYLOAD_BYTES - 1} bytes"]),
        ("streamed_too_big", ["size mismatch", "got at least", "aborted"]),
        ("streamed_too_small", ["size mismatch", f"got {PAYLOAD_BYTES}"]),
        ("truncated", ["connection ended after", f"of {PAYLOAD_BYTES} bytes", "--from"]),
        ("truncated_unchecked", ["connection ended after", f"of {PAYLOAD_BYTES} bytes"]),
        ("http_404", ["HTTP 404", "--from", fm.SOURCE_ENV_VAR]),
        ("http_500", ["HTTP 500", "--from"]),
        ("timeout", ["timed out", "--from"]),
    ],
)
@pytest.mark.parametrize("old_content", [None, b"previous model bytes"])
def test_failed_download_leaves_dest_untouched(
    server: FakeServer,
    payload: bytes,
    dest: Path,
    case: str,
    expected_fragments: list[str],
    old_content: bytes | None,
) -> None:
    overrides: dict[str, object] = {}
    path = MODEL_PATH
    if case == "checksum":
        server.serve(path, payload)
        overrides["sha256"] = "0" * 64
    elif case == "declared_too_big":
        server.serve(path, payload)
        overrides["size_bytes"] = PAYLOAD_BYTES - 1
    elif case == "streamed_too_big":
        server.serve(path, payload, declare=False)
        overrides["size_bytes"] = PAYLOAD_BYTES - 1
    elif case == "streamed_too_small":
        server.serve(path, payload, declare=False)
        overrides["size_bytes"] = PAYLOAD_BYTES + 1
    elif case == "truncated":
        server.routes[path] = Route(payload[: PAYLOAD_BYTES // 2], declared_bytes=PAYLOAD_BYTES)
    elif case == "truncated_unchecked":
        # Without expected size/sha the declared Content-Length is the only guard left
        # (force: with no expectations any non-empty old file would be reused).
        server.routes[path] = Route(payload[: PAYLOAD_BYTES // 2], declared_bytes=PAYLOAD_BYTES)
        overrides.update(sha256=None, size_bytes=None, force=True)
    elif case == "http_404":
        path = "/missing.onnx"
    elif case == "http_500":
        server.routes[path] = Route(b"boom", status=500, declared_bytes=4)
    elif case == "timeout":
        server.routes[path] = Route(b"", hang=True)
        overrides["timeout_s"] = 0.3
    if old_content is not None:
        dest.parent.mkdir(parents=True)
        dest.write_bytes(old_content)

    with pytest.raises(FetchError) as excinfo:
        fetch_from(server, dest, payload, url=server.url(path), **overrides)

    message = str(excinfo.value)
    for fragment in expected_fragments:
        assert fragment in message
    if old_content is None:
        assert not dest.exists()
    else:
        assert dest.read_bytes() == old_content
    assert leftover_files(dest.parent, dest.name) == set()
    assert server.requests == [path]


def test_checksum_mismatch_names_expected_and_got(
    server: FakeServer, payload: bytes, dest: Path
) -> None:
    server.serve(MODEL_PATH, payload)
    wrong_sha256 = sha256_hex(b"something else")

    with pytest.raises(FetchError, match=f"expected {wrong_sha256}, got {sha256_hex(payload)}"):
        fetch_from(server, dest, payload, sha256=wrong_sha256)


def test_unreachable_server_explains_offline_fixes(
    closed_port_url: str, dest: Path, monkeypatch
) -> None:
    # No copy beside the checkout: the general advice.
    monkeypatch.setattr(model_source, "REPO_ROOT", dest.parent / "no-shared-beside")
    with pytest.raises(FetchError) as excinfo:
        fetch_model(dest, url=closed_port_url, timeout_s=5.0)

    message = str(excinfo.value)
    assert f"download of {closed_port_url} failed" in message
    assert "no internet" in message
    assert "small-object-detect fetch-model --from /path/to/yolox_nano.onnx" in message
    assert f"{fm.SOURCE_ENV_VAR}=/path/to/yolox_nano.onnx" in message
    assert "../shared/models/yolox_nano.onnx" in message
    assert not dest.exists()
    assert leftover_files(dest.parent) == set()


def test_local_file_is_copied_without_network(
    server: FakeServer, dest: Path, tmp_path: Path
) -> None:
    source_bytes = onnx_like()
    source = tmp_path / "offline" / "yolox_nano.onnx"
    source.parent.mkdir()
    source.write_bytes(source_bytes)

    # The official checksum stays the expectation: a local re-export must not be held to it.
    result = fetch_model(dest, source_file=source, url=server.url())

    assert result == FetchResult(dest, sha256_hex(source_bytes), "local")
    assert dest.read_bytes() == source_bytes
    assert sidecar_origin(dest) == "local"
    assert server.requests == []
    assert leftover_files(dest.parent, dest.name, dest.name + ".source") == set()


def test_ci_offline_copy_is_accepted(dest: Path) -> None:
    if not CI_OFFLINE_COPY.is_file():
        pytest.skip(f"no offline model at {CI_OFFLINE_COPY}")

    result = fetch_model(dest, source_file=CI_OFFLINE_COPY)

    assert result.source == "local"
    assert result.sha256 == sha256_hex(CI_OFFLINE_COPY.read_bytes())
    assert dest.stat().st_size == CI_OFFLINE_COPY.stat().st_size


@pytest.mark.parametrize(
    ("name", "content", "expected_fragment"),
    [
        ("missing.onnx", None, "does not exist"),
        ("a_directory", "dir", "does not exist"),
        ("empty.onnx", b"", "is only 0 bytes"),
        ("tiny.onnx", fm.ONNX_FIRST_BYTE * 100, "is only 100 bytes"),
        ("page.html", b"<html>" + b"x" * 1000, "does not start like an ONNX protobuf"),
    ],
)
def test_bad_local_file_is_rejected(
    server: FakeServer,
    dest: Path,
    tmp_path: Path,
    name: str,
    content: bytes | str | None,
    expected_fragment: str,
) -> None:
    source = tmp_path / name
    if content == "dir":
        source.mkdir()
    elif isinstance(content, bytes):
        source.write_bytes(content)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"previous model bytes")

    with pytest.raises(FetchError) as excinfo:
        fetch_model(dest, source_file=source, url=server.url())

    assert expected_fragment in str(excinfo.value)
    assert str(source) in str(excinfo.value)
    assert dest.read_bytes() == b"previous model bytes"
    assert leftover_files(dest.parent, dest.name) == set()
    assert server.requests == []


def test_valid_existing_dest_is_reused_without_request(
    server: FakeServer, payload: bytes, dest: Path
) -> None:
    server.serve(MODEL_PATH, payload)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(payload)

    result = fetch_from(server, dest, payload)

    assert result == FetchResult(dest, sha256_hex(payload), "existing")
    assert server.requests == []


def test_locally_installed_dest_is_reused_despite_other_checksum(
    server: FakeServer, payload: bytes, dest: Path, tmp_path: Path
) -> None:
    source_bytes = onnx_like()
    source = tmp_path / "offline.onnx"
    source.write_bytes(source_bytes)
    fetch_model(dest, source_file=source)
    server.serve(MODEL_PATH, payload)

    result = fetch_from(server, dest, payload)

    assert result == FetchResult(dest, sha256_hex(source_bytes), "existing")
    assert dest.read_bytes() == source_bytes
    assert server.requests == []


@pytest.mark.parametrize(
    ("old_content", "force"),
    [
        (b"corrupt model without provenance", False),  # invalid: replaced even without force
        (None, True),  # valid (filled with the payload below) but force asks for a fresh copy
    ],
)
def test_dest_is_redownloaded_when_invalid_or_forced(
    server: FakeServer, payload: bytes, dest: Path, old_content: bytes | None, force: bool
) -> None:
    server.serve(MODEL_PATH, payload)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(payload if old_content is None else old_content)

    result = fetch_from(server, dest, payload, force=force)

    assert result.source == "download"
    assert dest.read_bytes() == payload
    assert server.requests == [MODEL_PATH]


def test_force_download_replaces_local_install_and_its_provenance(
    server: FakeServer, payload: bytes, dest: Path, tmp_path: Path
) -> None:
    source = tmp_path / "offline.onnx"
    source.write_bytes(onnx_like())
    fetch_model(dest, source_file=source)
    server.serve(MODEL_PATH, payload)

    result = fetch_from(server, dest, payload, force=True)

    assert result.source == "download"
    assert dest.read_bytes() == payload
    assert sidecar_origin(dest) == "download"


@pytest.mark.parametrize(
    ("dest_matches_source", "force", "expected_source"),
    [
        (True, False, "existing"),
        (True, True, "local"),
        (False, False, "local"),
    ],
)
def test_local_source_reuses_only_identical_dest(
    dest: Path, tmp_path: Path, dest_matches_source: bool, force: bool, expected_source: str
) -> None:
    source_bytes = onnx_like()
    source = tmp_path / "offline.onnx"
    source.write_bytes(source_bytes)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(source_bytes if dest_matches_source else onnx_like())

    result = fetch_model(dest, source_file=source, force=force)

    assert result.source == expected_source
    assert dest.read_bytes() == source_bytes


def test_cli_download_succeeds(
    server: FakeServer, payload: bytes, dest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve(MODEL_PATH, payload)
    argv = ["--dest", str(dest), "--url", server.url()]
    argv += ["--sha256", sha256_hex(payload).upper(), "--size", str(len(payload))]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert f"downloaded {server.url()}" in out
    assert sha256_hex(payload) in out
    assert "verified" in out
    assert dest.read_bytes() == payload


def test_cli_can_skip_checks_for_another_model(
    server: FakeServer, payload: bytes, dest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.serve(MODEL_PATH, payload, declare=False)

    code = main(["--dest", str(dest), "--url", server.url(), "--sha256", "", "--size", "0"])

    assert code == 0
    assert "NOT verified" in capsys.readouterr().out
    assert dest.read_bytes() == payload


@pytest.mark.parametrize("via_env", [False, True])
def test_cli_copies_local_file(
    monkeypatch: pytest.MonkeyPatch,
    dest: Path,
    tmp_path: Path,
    closed_port_url: str,
    capsys: pytest.CaptureFixture[str],
    via_env: bool,
) -> None:
    source_bytes = onnx_like()
    source = tmp_path / "offline.onnx"
    source.write_bytes(source_bytes)
    argv = ["--dest", str(dest), "--url", closed_port_url]
    if via_env:
        monkeypatch.setenv(fm.SOURCE_ENV_VAR, str(source))
    else:
        argv += ["--from", str(source)]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert f"copied {source} -> {dest}" in out
    assert sha256_hex(source_bytes) in out
    # Says whether the other checksum matters: it does not, for a re-export of the same network.
    assert "not the official release's: fine for a re-export" in out
    assert dest.read_bytes() == source_bytes


@pytest.mark.parametrize(
    ("use_missing_source", "expected_fragments"),
    [
        (False, ["download of", "--from", fm.SOURCE_ENV_VAR]),
        (True, ["does not exist"]),
    ],
)
def test_cli_failure_returns_1_with_message_and_no_traceback(
    dest: Path,
    tmp_path: Path,
    closed_port_url: str,
    capsys: pytest.CaptureFixture[str],
    use_missing_source: bool,
    expected_fragments: list[str],
) -> None:
    argv = ["--dest", str(dest), "--url", closed_port_url, "--timeout", "5"]
    if use_missing_source:
        argv += ["--from", str(tmp_path / "nope.onnx")]

    assert main(argv) == 1

    captured = capsys.readouterr()
    assert captured.err.startswith("fetch_model: error: ")
    for fragment in expected_fragments:
        assert fragment in captured.err
    assert "Traceback" not in captured.err
    assert captured.out == ""
    assert not dest.exists()


def test_cli_existing_model_is_reported(
    server: FakeServer, payload: bytes, dest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest.parent.mkdir(parents=True)
    dest.write_bytes(payload)
    argv = ["--dest", str(dest), "--url", server.url(), "--sha256", sha256_hex(payload)]

    assert main([*argv, "--size", str(len(payload))]) == 0

    assert f"model already in place: {dest}" in capsys.readouterr().out
    assert server.requests == []


@pytest.mark.parametrize("bad_args", [["--sha256", "abc"], ["--size", "-1"], ["--size", "x"]])
def test_cli_rejects_malformed_expectations(bad_args: list[str], dest: Path) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["--dest", str(dest), *bad_args])

    assert excinfo.value.code == 2
    assert not dest.exists()


@pytest.mark.parametrize("beside", [True, False])
def test_offline_failure_points_at_a_copy_beside_the_checkout(
    dest: Path, tmp_path: Path, closed_port_url: str, monkeypatch, capsys, beside: bool
) -> None:
    checkout = tmp_path / "checkout"
    copy = tmp_path / "shared" / "models" / "yolox_nano.onnx"
    if beside:
        copy.parent.mkdir(parents=True)
        copy.write_bytes(b"\x08" + b"\0" * 300)
    monkeypatch.setattr(model_source, "REPO_ROOT", checkout)

    assert main(["--dest", str(dest), "--url", closed_port_url]) == 1

    err = capsys.readouterr().err
    assert (f"{fm.SOURCE_ENV_VAR}={copy} scripts/serve.sh" in err) is beside
    assert "no internet access" in err or beside

"""The demo page (/) and the API docs (/docs), end to end in headless Chromium.

Debian's /usr/bin/chromium driven by the Python playwright package (its bundled driver; no
browser download). scripts/test.sh installs Chromium when it can (root with apt-get); elsewhere
these tests skip, saying so. The server is a real HTTP server on loopback.
UPDATE_DEMO_SCREENSHOT=1 also writes the screenshot to docs/demo.png (the README's picture).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest

from app import create_app
from app.detector.annotate import PALETTE
from tests.conftest import DEMO_DIR, REPO_ROOT, b64, shared_path
from tests.live_server import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is absent: scripts/test.sh installs Debian's chromium when run as "
            "root with apt-get; install it to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, timeout=TIMEOUT_MS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def base_url(yolox_model, one_model_dir):
    with serve_in_thread(create_app({"models_dir": one_model_dir}, model=yolox_model)) as url:
        yield url


def new_page(browser):
    """A page in a fresh context (a tab of its own: no storage shared), 1280x720, with the
    tests' timeout: the one set-up every page test starts from."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


@pytest.fixture
def page(browser, base_url):
    """A fresh page that records every URL it asks for and every console error."""
    page = new_page(browser)
    page.requested = []
    page.errors = []
    page.on("request", lambda request: page.requested.append(request.url))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    yield page
    page.context.close()


def test_demo_page_draws_the_boxes_the_api_finds(page, base_url, tmp_path):
    image_path = shared_path("data", "demo", "small-vehicles1.jpeg")
    page.goto(base_url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('yolox')")
    page.set_input_files("#file", str(image_path))
    page.wait_for_selector("#canvas[data-count]")

    shown = int(page.get_attribute("#status", "data-count"))
    drawn = int(page.get_attribute("#canvas", "data-count"))
    confidence = float(page.input_value("#confidence"))
    answer = json.loads(page.text_content("#json"))
    api = _post_detect(base_url, image_path.read_bytes(), confidence)
    assert shown == drawn == api["count"] == answer["count"] >= 3
    assert page.text_content("#status").startswith(f"{api['count']} detections")
    assert answer["detections"] == api["detections"]

    # The canvas holds the picture at full size, with each box's right edge in its class colour.
    canvas = "document.getElementById('canvas')"
    assert page.evaluate(f"[{canvas}.width, {canvas}.height]") == [1068, 580]
    for found in api["detections"][:3]:
        box = found["box"]
        # A 2 px stroke centred on x2 covers all of pixel column floor(x2): no antialiasing.
        x, y = math.floor(box["x2"]), round((box["y1"] + box["y2"]) / 2)
        rgba = page.evaluate(
            f"Array.from({canvas}.getContext('2d').getImageData({x}, {y}, 1, 1).data)"
        )
        assert rgba[:3] == list(PALETTE[found["class_id"] % len(PALETTE)]), (found, rgba)

    _save_screenshot(page, tmp_path)
    assert page.errors == []
    assert all(url.startswith(base_url) for url in page.requested), page.requested


def _post_detect(base_url: str, image: bytes, confidence: float) -> dict:
    import requests

    response = requests.post(
        f"{base_url}/detect", json={"image": b64(image), "confidence": confidence}, timeout=60
    )
    assert response.status_code == 200
    return response.json()


def _save_screenshot(page, tmp_path: Path) -> None:
    shot = tmp_path / "demo.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_DEMO_SCREENSHOT") == "1":
        shutil.copy(shot, REPO_ROOT / "docs" / "demo.png")


def test_demo_page_confidence_changes_the_answer(page, base_url):
    page.goto(base_url + "/")
    page.set_input_files("#file", str(DEMO_DIR / "small-vehicles1.jpeg"))
    page.wait_for_selector("#canvas[data-count]")
    before = int(page.get_attribute("#canvas", "data-count"))
    page.fill("#confidence", "0.05")
    page.dispatch_event("#confidence", "change")
    page.wait_for_function(f"document.getElementById('canvas').dataset.count !== '{before}'")
    after = int(page.get_attribute("#canvas", "data-count"))
    assert after > before
    assert page.text_content("#confidence-value") == "0.05"


def test_demo_page_shows_errors_and_offers_slicing_only_when_the_server_has_it(
    page, base_url, tmp_path
):
    document = json.loads(page.request.get(base_url + "/openapi.json").text())
    has_slicing = "slicing" in document["components"]["schemas"]["DetectRequest"]["properties"]
    page.goto(base_url + "/")
    page.wait_for_function("document.getElementById('model').textContent !== ''")
    assert page.is_disabled("#slicing") is not has_slicing
    bogus = tmp_path / "not-really.png"
    bogus.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    page.set_input_files("#file", str(bogus))
    page.wait_for_selector("#status.error")
    assert page.text_content("#status")


def test_docs_page_renders_every_operation_and_tries_one(page, base_url):
    document = json.loads(page.request.get(base_url + "/openapi.json").text())
    operations = {(m, p) for p, item in document["paths"].items() for m in item}
    page.goto(base_url + "/docs")
    page.wait_for_selector("body[data-ready]")
    sections = page.eval_on_selector_all(
        ".operation", "nodes => nodes.map(n => [n.dataset.method, n.dataset.path])"
    )
    assert {tuple(s) for s in sections} == operations
    assert page.locator("[id^=schema-]").count() == len(document["components"]["schemas"])
    # Descriptions' `code` spans show as code, not as literal backticks.
    assert "`" not in page.text_content("#operations")
    assert page.locator('.operation[data-path="/detect"] td code', has_text="invalid_json").count()

    # Try POST /detect with a multipart upload from the page itself.
    detect = page.locator('.operation[data-path="/detect"]')
    detect.locator("summary", has_text="Try it").click()
    detect.locator('input[name="confidence"]').fill("0.3")
    detect.locator('input[type="file"][name="image"]').set_input_files(
        str(shared_path("data", "demo", "small-vehicles1.jpeg"))
    )
    detect.locator("button", has_text="Send").click()
    output = detect.locator(".try-output[data-status]")
    output.wait_for()
    assert output.get_attribute("data-status") == "200"
    assert '"count"' in output.text_content()
    assert page.errors == []
    assert all(url.startswith(base_url) for url in page.requested), page.requested


def test_the_page_and_the_server_draw_in_the_same_colours():
    script = (REPO_ROOT / "app" / "http" / "static" / "demo.js").read_text()
    listed = re.findall(r'"#([0-9a-f]{6})"', script[script.index("PALETTE") : script.index("];")])
    assert [tuple(bytes.fromhex(h)) for h in listed] == list(PALETTE)


KEY = "demo-key-0123456789abcdef"


@pytest.fixture(scope="module")
def keyed_base_url(yolox_model):
    with serve_in_thread(create_app({"api_keys": KEY}, model=yolox_model)) as url:
        yield url


def test_demo_page_asks_for_the_key_a_keyed_server_wants(browser, keyed_base_url):
    page = new_page(browser)
    sent_keys = []
    page.on("request", lambda r: r.url.endswith("/detect") and sent_keys.append(r.headers))
    page.goto(keyed_base_url + "/")
    page.wait_for_selector("#key-field:not([hidden])")

    page.set_input_files("#file", str(DEMO_DIR / "small-vehicles1.jpeg"))
    page.wait_for_selector("#status.error")
    assert page.text_content("#status").startswith("Error 401")
    assert page.evaluate("document.activeElement.id") == "api-key"

    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    page.wait_for_selector("#canvas[data-count]")
    assert int(page.get_attribute("#canvas", "data-count")) >= 3
    assert "x-api-key" not in sent_keys[0] and sent_keys[-1]["x-api-key"] == KEY
    page.wait_for_function("document.getElementById('model').textContent.includes('yolox')")

    # Kept for this tab only: a reload fills it in again, a new context (tab) does not have it.
    page.reload()
    page.wait_for_function(f"document.getElementById('api-key').value === '{KEY}'")
    other = new_page(browser)
    other.goto(keyed_base_url + "/")
    other.wait_for_selector("#key-field:not([hidden])")
    assert other.input_value("#api-key") == ""
    other.context.close()
    page.context.close()


def test_demo_page_hides_the_key_field_on_an_open_server(page, base_url):
    page.goto(base_url + "/")
    page.wait_for_function("document.getElementById('model').textContent !== ''")
    assert page.is_hidden("#key-field")


def test_docs_page_tries_a_protected_operation_with_the_key(browser, keyed_base_url):
    page = new_page(browser)
    page.goto(keyed_base_url + "/docs")
    page.wait_for_selector("body[data-ready]")
    model = page.locator('.operation[data-path="/model"]')
    model.locator("summary", has_text="Try it").click()

    model.locator("button", has_text="Send").click()
    model.locator('.try-output[data-status="401"]').wait_for()

    page.fill("#api-key", KEY)
    page.dispatch_event("#api-key", "change")
    model.locator("button", has_text="Send").click()
    model.locator('.try-output[data-status="200"]').wait_for()
    assert "yolox" in model.locator(".try-output").text_content()
    page.context.close()


@pytest.mark.parametrize(("root", "base"), [("", "/"), ("/dev", "/dev/"), ("/$default", "/")])
def test_pages_set_their_base_to_the_public_root(client, root, base):
    # serverless-wsgi makes the stage the script root; an HTTP API's "$default" is not in URLs.
    for path in ("/", "/docs"):
        html = client.get(path, environ_overrides={"SCRIPT_NAME": root}).get_data(as_text=True)
        assert html.count("<base ") == 1 and f'<base href="{base}">' in html
        assert not re.search(r'(href|src)="/', html.replace(f'<base href="{base}">', ""))
    document = client.get("/openapi.json", environ_overrides={"SCRIPT_NAME": root}).get_json()
    assert document["servers"] == [{"url": base.rstrip("/") or "/"}]


def test_static_files_come_from_memory_with_etags(client):
    first = client.get("/static/style.css")
    assert first.status_code == 200 and first.mimetype == "text/css"
    again = client.get("/static/style.css", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert client.get("/static/demo.js").mimetype == "text/javascript"
    for missing in ("/static/nope.js", "/static/index.html", "/static/../pages.py"):
        response = client.get(missing)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


# --- behind an API Gateway REST stage -----------------------------------------------------------


@pytest.fixture(scope="module")
def stage_url(yolox_model, vehicles_dir):
    """The app behind the REST API stage "dev" (tests/apigw_stage.py): the page's own URL."""
    from tests.apigw_stage import RestStage

    app = create_app({"models_dir": vehicles_dir}, model=yolox_model)
    with serve_in_thread(RestStage(app, "dev")) as url:
        yield url + "/dev/"


@pytest.mark.parametrize("entry", ["", "/"], ids=["no_trailing_slash", "trailing_slash"])
def test_demo_page_detects_from_under_a_rest_stage(browser, stage_url, entry):
    import requests

    page = new_page(browser)
    requested, failed = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
    page.goto(stage_url.rstrip("/") + entry)
    page.wait_for_function("document.getElementById('model').textContent.includes('yolox')")
    image_path = shared_path("data", "demo", "small-vehicles1.jpeg")
    page.set_input_files("#file", str(image_path))
    page.wait_for_selector("#canvas[data-count]")

    confidence = float(page.input_value("#confidence"))
    api = requests.post(
        stage_url + "detect",
        json={"image": b64(image_path.read_bytes()), "confidence": confidence},
        timeout=60,
    ).json()
    assert int(page.get_attribute("#canvas", "data-count")) == api["count"] >= 3
    assert json.loads(page.text_content("#json"))["detections"] == api["detections"]
    assert failed == []
    assert stage_url + "detect" in requested and stage_url + "static/demo.js" in requested
    assert all(url.startswith(stage_url.rstrip("/")) for url in requested), requested
    links = page.eval_on_selector_all("nav a", "links => links.map(a => a.href)")
    assert links == [stage_url, stage_url + "docs", stage_url + "openapi.json"]
    page.context.close()


def test_docs_page_under_a_rest_stage_tries_detect_and_the_custom_route(browser, stage_url):
    page = new_page(browser)
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(stage_url + "docs")
    page.wait_for_selector("body[data-ready]")
    image = str(shared_path("data", "demo", "small-vehicles1.jpeg"))
    for path in ("/detect", "/v1/vision/custom/{name}"):
        operation = page.locator(f'.operation[data-path="{path}"]')
        operation.locator("summary", has_text="Try it").click()
        if "{name}" in path:
            operation.locator('input[name="name"]').fill("vehicles")
        operation.locator('input[type="file"][name="image"]').set_input_files(image)
        operation.locator("button", has_text="Send").click()
        output = operation.locator(".try-output[data-status]")
        output.wait_for()
        assert output.get_attribute("data-status") == "200", output.text_content()
    assert stage_url + "v1/vision/custom/vehicles" in requested
    assert all(url.startswith(stage_url) for url in requested), requested
    # A schema link stays on this page (a bare "#..." would resolve against <base>: the demo).
    page.locator('.operation[data-path="/detect"] a[href*="schema-"]').first.click()
    assert page.url.startswith(stage_url + "docs#schema-")
    document = json.loads(page.request.get(stage_url + "openapi.json").text())
    assert document["servers"] == [{"url": "/dev"}]
    page.context.close()


@pytest.fixture(scope="module")
def models_url(yolox_model, vehicles_dir):
    """A server with two models: YOLOX-Nano (the default) and "vehicles"."""
    with serve_in_thread(create_app({"models_dir": vehicles_dir}, model=yolox_model)) as url:
        yield url


def test_demo_page_picks_a_model_when_there_are_several(browser, models_url):
    page = new_page(browser)
    page.goto(models_url + "/")
    page.wait_for_selector("#model-field:not([hidden])")
    options = page.eval_on_selector_all("#model-pick option", "os => os.map(o => o.value)")
    assert options == ["", "vehicles"]  # the default first, sent as no "model" at all
    page.set_input_files("#file", str(shared_path("data", "demo", "small-vehicles1.jpeg")))
    page.wait_for_selector("#canvas[data-count]")
    assert json.loads(page.text_content("#json"))["model"]["name"] == "yolox_nano"
    page.select_option("#model-pick", "vehicles")
    page.wait_for_function(
        "JSON.parse(document.getElementById('json').textContent).model.name === 'vehicles'"
    )
    page.context.close()


def test_demo_page_hides_the_picker_with_one_model(page, base_url):
    page.goto(base_url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('yolox')")
    assert page.is_hidden("#model-field")


def test_docs_page_suggests_the_model_names(browser, models_url):
    page = new_page(browser)
    page.goto(models_url + "/docs")
    page.wait_for_selector("body[data-ready]")
    custom = page.locator('.operation[data-path="/v1/vision/custom/{name}"]')
    listed = custom.locator('input[name="name"]').get_attribute("list")
    values = page.eval_on_selector_all(f"#{listed} option", "os => os.map(o => o.value)")
    assert values == ["yolox_nano", "vehicles"]
    page.context.close()

"""MkDocs hook: the API reference in docs/api.md, rendered from the app's OpenAPI document.

The document is the one `GET /openapi.json` serves (`app.http.openapi.openapi_document`) with the
built-in defaults, API keys on (so the 401s are listed) and no model loaded: the build needs
neither a model nor ../shared. It also goes into the site as `openapi.json`. If the app cannot be
imported (a docs-only environment), the page says so instead of failing the build.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- api-reference: replaced at build time by docs/hooks/api_reference.py -->"
REPO_ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "post", "put", "patch", "delete")
# The request and response bodies worth a table of their own, in reading order.
SCHEMAS = ("DetectRequest", "DetectResponse", "Detection", "Box", "ModelDescription", "Error")

_document: dict[str, Any] | None = None
_failure = ""


def build_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of a server with default settings, API keys on, no model."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # mkdocs runs from .venv/bin, not the repo
    from app.config import Settings
    from app.http.openapi import openapi_document

    return openapi_document(Settings.from_env({}), None, keys=True)


def type_of(schema: dict[str, Any]) -> str:
    """A short, human spelling of a JSON Schema: `number 0–1`, `"on" or "off"`, `array of Box`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "enum" in schema:
        return " or ".join(f'`"{value}"`' for value in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(type_of(option) for option in schema["anyOf"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        items = schema.get("items", {})
        return f"array of {type_of(items)}" if items else "array"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        kind += f" {'' if low is None else low}–{'' if high is None else high}"
    return kind


def _cell(text: Any) -> str:
    # An HTML entity, not "\\|": Python-Markdown's tables drop the escaped pipe.
    return str(text).replace("|", "&#124;").replace("\n", " ")


def _default(schema: dict[str, Any]) -> str:
    return f"`{json.dumps(schema['default'])}`" if "default" in schema else ""


def _operation(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", "", operation.get("summary", "") + "."]
    if operation.get("description"):
        lines += ["", operation["description"]]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["", "| query parameter | type | default | meaning |", "|---|---|---|---|"]
        for p in parameters:
            schema = p["schema"]
            row = (f"`{p['name']}`", type_of(schema), _default(schema), schema.get("description"))
            lines.append("| " + " | ".join(_cell(cell or "") for cell in row) + " |")
    body = operation.get("requestBody", {}).get("content", {})
    if body:
        lines += ["", "Request body: " + ", ".join(f"`{media}`" for media in body) + "."]
    if operation.get("security"):
        lines += ["", "Needs an API key when keys are configured (`X-Api-Key` or `Bearer`)."]
    lines += ["", "| status | meaning |", "|---|---|"]
    for status, response in sorted(operation["responses"].items()):
        lines.append(f"| {status} | {_cell(response.get('description') or '')} |")
    return [*lines, ""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = [f"### {name}", "", "| field | type | default | meaning |", "|---|---|---|---|"]
    for field, prop in _flatten(schema.get("properties", {})):
        top = field.split(".", 1)[0]
        label = f"`{field}`" + (" (required)" if field == top and top in required else "")
        row = (label, type_of(prop), _default(prop), prop.get("description", ""))
        lines.append("| " + " | ".join(_cell(cell) for cell in row) + " |")
    return [*lines, ""]


def _flatten(properties: dict[str, Any], prefix: str = "") -> list[tuple[str, dict]]:
    """(dotted name, schema) for each property, nested objects' properties after their own."""
    rows = []
    for name, prop in properties.items():
        rows.append((prefix + name, prop))
        if prop.get("type") == "object" and "properties" in prop:
            rows += _flatten(prop["properties"], f"{prefix}{name}.")
    return rows


def render(document: dict[str, Any]) -> str:
    """The reference as Markdown: one section per operation, then the main schemas."""
    info = document["info"]
    lines = [
        f"Generated from the OpenAPI {document['openapi']} document ({info['title']} "
        f"{info['version']}) at build time: the built-in defaults, API keys on (without keys "
        "the 401s and security schemes are absent) and no model loaded (a running server fills "
        "in its own defaults and class ids). The document itself: [openapi.json](openapi.json).",
        "",
    ]
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                lines += _operation(path, method, item[method])
    schemas = document["components"]["schemas"]
    for name in SCHEMAS:
        lines += _schema(name, schemas[name])
    return "\n".join(lines)


def on_config(config):
    global _document, _failure
    try:
        _document = build_document()
    except Exception as exc:  # a docs-only environment: note it on the page, never fail
        _document, _failure = None, f"{type(exc).__name__}: {exc}"
    return config


def on_files(files, config):
    if _document is not None:
        from mkdocs.structure.files import File

        content = json.dumps(_document, indent=2) + "\n"
        files.append(File.generated(config, "openapi.json", content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    if MARKER not in markdown:
        return markdown
    if _document is None:
        note = (
            "!!! note\n    The reference is generated from the app's OpenAPI document when "
            f"the app can be imported; here it could not be ({_cell(_failure)}). A running "
            "server serves it at `GET /openapi.json`."
        )
        return markdown.replace(MARKER, note)
    return markdown.replace(MARKER, render(_document))

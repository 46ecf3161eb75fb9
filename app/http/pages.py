"""The browser pages: the demo at GET / and the API docs at GET /docs (static files, no CDN).

Their scripts and styles are served from memory at /static/<name> (from app/http/static/): a
file response would stay open on Lambda, where serverless-wsgi never closes the WSGI iterable.
Every URL in the pages is relative to a <base> set here to the server's public root, so they also
work under a path prefix such as an API Gateway REST stage (https://<id>.execute-api.../dev/).
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from flask import Blueprint, Response, request
from werkzeug.exceptions import NotFound

bp = Blueprint("pages", __name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET_TYPES = {".css": "text/css", ".js": "text/javascript"}
_BASE_TAG = '<base href="/">'
# HTTP APIs' default stage is not part of the URL, yet serverless-wsgi makes it the script root.
_UNLISTED_STAGES = frozenset({"/$default"})


def public_root() -> str:
    """Where this app lives for its callers: "" at the host's root, or a prefix such as
    "/dev" (an API Gateway REST stage, from the WSGI script root), never ending in "/"."""
    root = request.script_root.rstrip("/")
    return "" if root in _UNLISTED_STAGES else root


@functools.cache
def _html(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


@functools.cache
def _assets() -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in STATIC_DIR.iterdir()
        if path.suffix in ASSET_TYPES and path.is_file()
    }


def _page(name: str) -> Response:
    base = f'<base href="{html.escape(public_root(), quote=True)}/">'
    return Response(_html(name).replace(_BASE_TAG, base, 1), mimetype="text/html")


@bp.get("/")
def demo_page():
    return _page("index.html")


@bp.get("/docs")
def docs_page():
    return _page("docs.html")


@bp.get("/static/<name>")
def asset(name: str):
    data = _assets().get(name)
    if data is None:
        raise NotFound()
    response = Response(data, mimetype=ASSET_TYPES[Path(name).suffix])
    response.add_etag()
    return response.make_conditional(request)

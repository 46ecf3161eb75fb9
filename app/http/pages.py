"""The browser pages: the demo at GET / and the API docs at GET /docs (static files, no CDN).

Their scripts and styles are served by Flask's own /static route from app/http/static/.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, Response

bp = Blueprint("pages", __name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


@functools.cache
def _html(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@bp.get("/")
def demo_page():
    return Response(_html("index.html"), mimetype="text/html")


@bp.get("/docs")
def docs_page():
    return Response(_html("docs.html"), mimetype="text/html")

"""The Flask side: blueprints with thin views (read the request, call app/service.py, answer).

Lives here: the detection routes (`api`), DeepStack compatibility, the OpenAPI document, the
browser pages and their static files, uploads, API-key auth, the request hooks for logs and
metrics (`observability`), and the one place where errors become HTTP answers (`errors`).
May import: Flask/Werkzeug, `app.service`, `app.jobs`, `app.aws`, `app.config`,
`app.observability`, `app.schemas`, `app.detector`; never `app.events` (a sibling).
Never imported by `app.detector`, `app.schemas`, `app.service`, `app.jobs` or `app.events`
(the contracts in pyproject.toml, checked by lint-imports).
"""

"""The Flask side: blueprints with thin views (parse -> detect -> serialise).

Lives here: the detection routes (`api`), DeepStack compatibility, the OpenAPI document, the
browser pages and their static files, uploads, API-key auth, and the one place where errors
become HTTP answers (`errors`).
May import: Flask/Werkzeug, `app.config`, `app.observability`, `app.schemas`, `app.detector`.
Never imported by `app.detector`, `app.schemas` or `app.events`.
"""

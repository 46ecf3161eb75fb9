"""The command-line tools behind `python -m app`: serve, detect (with its export formats), and
the model fetcher and optimiser that the setup script and the container build run.

May import: `app.config`, `app.observability`, `app.schemas`, `app.detector`; `serve` imports
`app.create_app` (and so Flask) only when it runs.
"""

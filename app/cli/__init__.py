"""The command-line tools behind `python -m app`: serve, detect (with its export formats),
tune (settings from labelled images), work (the SQS worker anywhere), enqueue (backfill),
submit (the jobs client), and the model fetcher and optimiser that the setup script and the
container build run.

May import: `app.service`, `app.config`, `app.observability`, `app.schemas`, `app.events`,
`app.jobs`, `app.aws`, `app.tuning`, `app.detector`; `serve` and `work` import
`app.create_app` (and so Flask) only when they run.
"""

"""The command-line tools behind `python -m app`: serve, detect (with its export formats),
tune (settings from labelled images), work (the SQS worker anywhere), enqueue (backfill),
submit (the jobs client), and the model fetcher (fetch_model.py over model_source.py and
model_download.py) and optimiser that the setup script and the container build run.
progress.py draws the bars. `app/__main__.py` adds each command's parser and dispatches to it.

May import: `app.service`, `app.config`, `app.observability`, `app.schemas`, `app.events`,
`app.jobs`, `app.aws`, `app.tuning`, `app.detector`; `serve` and `work` import
`app.create_app` (and so Flask) only when they run.
"""

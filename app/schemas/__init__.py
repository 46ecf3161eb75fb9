"""The request/response contract shared by every entry point (HTTP, events, CLI).

Lives here: parsing a detect request into `DetectOptions` (`detect`, `slicing`), the answer
body, and the same contract as JSON Schema for the OpenAPI document (`contract`).
May import: `app.config`, `app.detector`. Never Flask or boto3: the Lambda event adapters and
the command line use it without loading a web framework.
"""

"""The request/response contract shared by every entry point (HTTP, events, CLI).

Lives here: the request declared once as msgspec Structs (`request`), checked against it with
this API's error codes (`validation`), parsed into `DetectOptions` (`detect`, `slicing`); the
answer body; and the contract as JSON Schema for the OpenAPI document (`contract`), the request
part derived from the same Structs.
May import: `app.config`, `app.detector`, msgspec. Never Flask or boto3: the Lambda event
adapters and the command line use it without loading a web framework.
"""

"""An API Gateway REST API stage in front of the app, as a browser or a client sees it.

A WSGI app for tests/live_server.py: each request under /<stage>/ becomes a REST proxy event
(payload 1.0, built on the one `sam local generate-event apigateway aws-proxy` made, see
tests/fixtures/events/README.md) that serverless-wsgi hands to the Flask app, exactly as
handler.handler does on Lambda; the Lambda answer goes back as the HTTP response. A request
outside the stage gets what API Gateway answers there (403), so a page whose URL leaves the
stage fails as it would on AWS.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import types

import serverless_wsgi
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from tests.conftest import FIXTURES

REST_EVENT = FIXTURES / "events" / "sam_apigw_rest_post_detect.json"
# serverless.yml's provider.apiGateway.binaryMediaTypes: these bodies arrive base64-encoded.
BINARY_MEDIA_TYPES = ("image/*", "application/octet-stream", "multipart/form-data")
LAMBDA_CONTEXT = types.SimpleNamespace(
    aws_request_id="c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    function_name="small-object-detect-dev-api",
    get_remaining_time_in_millis=lambda: 29_000,
)


def rest_event(request: Request, stage: str, path: str) -> dict:
    """The REST proxy event API Gateway sends for this request on resource / or /{proxy+}."""
    event = copy.deepcopy(json.loads(REST_EVENT.read_text(encoding="utf-8")))
    host = event["headers"]["Host"]  # the execute-api host name, as AWS sends it
    headers = {name: value for name, value in request.headers.items() if name != "Host"}
    headers["Host"] = host
    query = request.args
    body = request.get_data()
    binary = any(fnmatch.fnmatch(request.mimetype, pattern) for pattern in BINARY_MEDIA_TYPES)
    proxy = path.lstrip("/")
    event.update(
        httpMethod=request.method,
        path=path,
        resource="/{proxy+}" if proxy else "/",
        pathParameters={"proxy": proxy} if proxy else None,
        headers=headers,
        multiValueHeaders={name: [value] for name, value in headers.items()},
        queryStringParameters=dict(query) or None,
        multiValueQueryStringParameters={k: query.getlist(k) for k in query} or None,
        body=(base64.b64encode(body).decode() if binary else body.decode()) if body else None,
        isBase64Encoded=binary and bool(body),
    )
    event["requestContext"].update(
        stage=stage,
        httpMethod=request.method,
        path=f"/{stage}{path}",
        resourcePath=event["resource"],
    )
    return event


class RestStage:
    """WSGI: the app behind an API Gateway REST API stage called `stage`."""

    def __init__(self, app, stage: str = "dev"):
        self.app, self.stage = app, stage

    def __call__(self, environ, start_response):
        request = Request(environ)
        prefix = f"/{self.stage}"
        if request.path != prefix and not request.path.startswith(prefix + "/"):
            body = json.dumps({"message": "Missing Authentication Token"})
            response = Response(body, status=403, mimetype="application/json")
            return response(environ, start_response)
        event = rest_event(request, self.stage, request.path[len(prefix) :] or "/")
        answer = serverless_wsgi.handle_request(self.app, event, LAMBDA_CONTEXT)
        body = answer["body"]
        data = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
        headers = Headers([(k, v) for k, vs in answer["multiValueHeaders"].items() for v in vs])
        headers.remove("Content-Length")
        response = Response(data, status=answer["statusCode"], headers=headers)
        return response(environ, start_response)

"""One error shape for the whole API, and plain pages for people.

Every error on a machine route (``/api/*``, ``/ping``, ``/health``, the
exports, ``*.json``) -- Flask's own 404/405, flask-limiter's 429 and crashes
included -- is ``HubnetError.to_dict()``::

    {"ok": false, "error": {"status": 404, "code": "not_found", "message": "..."}}

HTML routes get a small page saying the same thing in words.
"""

from __future__ import annotations

import logging

from flask import jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from hubnet.vocab.errors import HubnetError

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          413: "too_large", 415: "unsupported_media_type", 429: "rate_limited", 500: "internal_error",
          503: "unavailable"}
_MESSAGES = {
    404: "there is nothing at this address",
    405: "{method} is not allowed here; use {allowed}",
    429: "too many requests from your address ({limit}); wait a minute and try again",
    500: "something went wrong on the server; the error has been logged",
}
_JSON_PREFIXES = ("/api/", "/ping", "/health", "/sparql", "/.well-known/", "/export.", "/dump.")


def wants_json() -> bool:
    path = request.path
    if path.startswith(_JSON_PREFIXES) or path.endswith((".json", ".geojson", ".csv", ".nq")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes["application/json"] > \
        request.accept_mimetypes["text/html"]


def error_response(err: HubnetError, headers=None):
    if wants_json():
        resp = jsonify(err.to_dict())
    else:
        resp = make_response(render_template("error.html", error=err))
    resp.status_code = err.status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _from_http(exc: HTTPException) -> HubnetError:
    status = exc.code or 500
    template = _MESSAGES.get(status)
    if status == 405:
        allowed = ", ".join(sorted(m for m in (getattr(exc, "valid_methods", None) or []) if m != "OPTIONS"))
        message = template.format(method=request.method, allowed=allowed or "another method")
    elif status == 429:
        limit = getattr(getattr(exc, "limit", None), "limit", None)
        message = template.format(limit=str(limit) if limit else exc.description)
    elif template:
        message = template
    else:
        message = (exc.description or exc.name or "error").rstrip(".")
    return HubnetError(message, code=_CODES.get(status, "http_error"), status=status)


def register(app) -> None:
    @app.errorhandler(HubnetError)
    def _hubnet(exc: HubnetError):
        # A busy answer (503) says when to come back.
        retry = getattr(exc, "retry_after", None)
        return error_response(exc, {"Retry-After": str(retry)} if retry else None)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        headers = {}
        if exc.code == 405:
            headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
        # 429: flask-limiter adds Retry-After and X-RateLimit-* to whatever response we build.
        return error_response(_from_http(exc), headers)

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(HubnetError(_MESSAGES[500], code="internal_error", status=500))

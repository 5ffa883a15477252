"""The project's few typed errors.

Every error carries a machine-readable ``code`` (stable, snake_case), a plain
English ``message`` for people, and the HTTP ``status`` a server should answer
with. The crawler records the code per source; the APIs render ``to_dict()``,
the one JSON error shape used everywhere::

    {"ok": false, "error": {"status": 400, "code": "service_forbidden",
                            "message": "SERVICE is not allowed ..."}}
"""

from __future__ import annotations


class HubnetError(Exception):
    """Base class: a failure with a reason code and an HTTP status."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        return {"ok": False, "error": {"status": self.status, "code": self.code, "message": self.message}}

    def __str__(self) -> str:  # "code: message" reads well in logs and CLIs
        return f"{self.code}: {self.message}"


class DocumentError(HubnetError):
    """A document that cannot be read as RDF: not JSON, too deep, refused context, named graphs..."""

    code = "invalid_document"
    status = 422


class ProfileInvalid(HubnetError):
    """A readable profile that breaks the rules of the profile format (carries the report)."""

    code = "invalid_profile"
    status = 422

    def __init__(self, message: str, report=None, **kw):
        super().__init__(message, **kw)
        self.report = report


class FetchError(HubnetError):
    """An outbound fetch that was refused or failed (blocked address, timeout, too large...)."""

    code = "fetch_failed"
    status = 502


class QueryError(HubnetError):
    """A query that is malformed, refused before evaluation, or stopped."""

    code = "bad_query"
    status = 400


class NotFound(HubnetError):
    code = "not_found"
    status = 404


class StoreError(HubnetError):
    """The store could not be opened or written (in use, damaged, disk full)."""

    code = "store_error"
    status = 503

"""The /sparql endpoint (SPARQL 1.1 Protocol, read-only, hardened). Work in progress."""

from __future__ import annotations

from flask import Blueprint

from crawler.queryservice import QueryService

bp = Blueprint("sparql", __name__)


def init_app(app, store, *, timeout: float = 10.0, row_cap: int = 10_000, workers: int = 2) -> QueryService:
    service = QueryService(store, None, timeout=timeout, row_cap=row_cap, workers=workers)
    app.extensions["hubnet.queries"] = service
    return service


@bp.route("/sparql", methods=["GET", "POST", "OPTIONS"])
def sparql():
    return "the SPARQL endpoint is being built", 503

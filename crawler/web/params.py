"""Reading search parameters, shared by the directory page and ``/api/groups``.

A bad parameter is a 400 that names it (``code="bad_parameter"``), so an API
user sees ``near must be LAT,LON`` rather than an empty result.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from flask import current_app

from hubnet.vocab.errors import HubnetError

from hubnet.crawler.budget import Budget
from hubnet.crawler.store.index import MAX_LIMIT, Search

MAX_TEXT = 200
MAX_OFFSET = 100_000


def bad(name: str, message: str) -> HubnetError:
    err = HubnetError(f"{name}: {message}", code="bad_parameter", status=400)
    err.parameter = name
    return err


def request_budget() -> Budget:
    """The time this request's store queries may take (REQUEST_QUERY_BUDGET)."""
    return Budget(current_app.config["REQUEST_QUERY_BUDGET"], "reading the store for this page")


def _text(args, name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise bad(name, f"at most {MAX_TEXT} characters")
    return value or None


def read_int(args, name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise bad(name, f"must be a whole number (got {raw[:40]!r})") from None
    if not low <= value <= high:
        raise bad(name, f"must be between {low} and {high} (got {value})")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise bad(name, f"must be a number (got {raw[:40]!r})") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise bad(name, f"must be between {low:g} and {high:g} (got {raw[:40]})")
    return value


def search_from(args, *, default_limit: int = 20, max_limit: int = MAX_LIMIT) -> Search:
    """Query-string args -> ``Search``. Raises HubnetError(400, bad_parameter) naming the parameter."""
    near = None
    raw_near = args.get("near")
    if raw_near is not None and raw_near.strip():
        parts = raw_near.split(",")
        if len(parts) != 2:
            raise bad("near", f"must be LAT,LON, e.g. near=51.56,-0.01 (got {raw_near[:40]!r})")
        near = (_float("near", parts[0], -90, 90), _float("near", parts[1], -180, 180))
    within = None
    raw_within = args.get("within_km")
    if raw_within is not None and raw_within.strip():
        within = _float("within_km", raw_within, 0, 20_038)
        if near is None:
            raise bad("within_km", "needs near=LAT,LON as well")
    return Search(
        q=_text(args, "q") or "",
        topic=_text(args, "topic"), kind=_text(args, "kind"), area=_text(args, "area"),
        near=near, within_km=within,
        limit=read_int(args, "limit", default_limit, 1, max_limit),
        offset=read_int(args, "offset", 0, 0, MAX_OFFSET),
    )


def offset_pages(path: str, args, total: int, offset: int, limit: int, keep) -> dict:
    """Previous/next links for a listing paged by ``offset``; ``keep`` names the args carried over."""
    base = {k: v for k, v in args.items() if k in keep and v.strip()}
    pages = {}
    if offset > 0:
        pages["prev"] = f"{path}?" + urlencode({**base, "offset": max(0, offset - limit)})
    if offset + limit < total:
        pages["next"] = f"{path}?" + urlencode({**base, "offset": offset + limit})
    return pages

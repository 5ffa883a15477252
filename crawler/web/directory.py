"""The directory for people: search with facets, a page per group, the map, source health.

Each page has a JSON twin (Datasette's rule: whatever a person can see, a
program can fetch), named in a ``Link: rel=alternate`` header and a
``<link rel="alternate">`` in the page: ``/`` -> ``/api/groups``,
``/groups/<key>`` -> ``/api/groups/<key>``, ``/map`` -> ``/export.geojson``,
``/sources`` -> ``/sources.json``.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import Blueprint, current_app, request

from hubnet.vocab.errors import HubnetError

from hubnet.vocab.model import kinds
from hubnet.crawler.store.areas import level_rank
from hubnet.crawler.store.index import Search
from .current import hub
from .api import find_group, group_data, index_building, search, source_listing
from .params import bad, offset_pages
from .render import alternate_url as _alternate, group_href, page as _page, public_url

bp = Blueprint("directory", __name__)

FILTERS = ("q", "topic", "kind", "area", "near", "within_km")


def _args_without(*names) -> dict:
    return {k: v for k, v in request.args.items() if k not in names and k in FILTERS and v.strip()}


def _href(args: dict) -> str:
    return "/?" + urlencode(args) if args else "/"


@bp.get("/")
def index():
    page_size = int(current_app.config["PAGE_SIZE"])
    alternate = _alternate("/api/groups")
    try:
        page = _page_number()
        if page > 1:
            alternate = "/api/groups?" + urlencode({**_args_without(), "limit": page_size,
                                                    "offset": (page - 1) * page_size})
        args = dict(request.args)
        args["limit"], args["offset"] = str(page_size), str((page - 1) * page_size)
        s, result = search(args, default_limit=page_size)
    except HubnetError as err:
        if err.status != 400:
            raise
        return _page("index.html", "/api/groups", 400, error=err, filters={}, result=None, facets=[],
                     active=[], pages={})
    filters = {k: request.args.get(k, "") for k in FILTERS}
    facets = []
    for name, title in (("topic", "Topics"), ("kind", "Kinds of group"), ("area", "Areas")):
        items = [{"value": f["value"], "label": f.get("label", f["value"]), "count": f["count"],
                  "href": _href({**_args_without(name), name: f["value"]}),
                  "selected": (request.args.get(name) or "").lower() == f["value"].lower()}
                 for f in result["facets"].get(name, [])]
        facets.append({"name": name, "title": title, "values": items})
    active = [{"name": k, "value": v, "remove": _href(_args_without(k))}
              for k, v in _args_without().items() if k != "within_km"]
    total, pages = result["total"], {}
    building = index_building()   # a note above the results: they may be missing groups
    if total == 0 and not _args_without() and page == 1 and not hub().index.meta("groups", 0) and not building:
        return _page("index.html", alternate, filters=filters, result=result, facets=[], active=[], pages={},
                     empty_hub=True, public_url=public_url(""))
    if page > 1:
        pages["prev"] = _href({**_args_without(), **({"page": str(page - 1)} if page > 2 else {})})
    if page * page_size < total:
        pages["next"] = _href({**_args_without(), "page": str(page + 1)})
    return _page("index.html", alternate, filters=filters, result=result, facets=facets, active=active,
                 pages=pages, page=page, building=building, first=s.offset + 1, last=s.offset + len(result["groups"]),
                 map_href="/map" + ("?" + urlencode(_args_without("near", "within_km"))
                                    if _args_without("near", "within_km") else ""))


def _page_number() -> int:
    raw = (request.args.get("page") or "1").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise bad("page", f"must be a page number from 1 (got {raw[:20]!r})")
    return int(raw)


@bp.get("/groups/<path:key>")
def group(key: str):
    row = find_group(key, "directory.group")
    data = group_data(row)
    offers_now = [o for o in data["offers"] if o["current"]]
    needs_now = [n for n in data["needs"] if n["current"]]
    not_current = [dict(o, what="Offer") for o in data["offers"] if not o["current"]] + \
                  [dict(n, what="Need") for n in data["needs"] if not n["current"]]
    return _page("group.html", "/api/groups/" + quote(row["key"], safe=""), group=data,
                 offers=offers_now, needs=needs_now, not_current=not_current,
                 stale_after_days=hub().settings.stale_after_days,
                 last_crawl=hub().background.last_crawl or hub().index.meta("last_crawl"))


@bp.get("/map")
def map_page():
    limit = int(current_app.config["MAP_LIMIT"])
    try:
        s, result = search({**request.args, "limit": "1", "offset": "0"})
    except HubnetError as err:
        if err.status != 400:
            raise
        return _page("map.html", "/export.geojson", 400, error=err, groups=[], data={}, total=0, without=0)
    # Only groups with coordinates go on the map; the search runs again restricted to them.
    located = hub().index.search(Search(q=s.q, topic=s.topic, kind=s.kind, area=s.area, located=True,
                                        near=s.near, within_km=s.within_km, limit=limit))
    groups = located["groups"]
    data = {
        "tiles": current_app.config["TILE_URL"],
        "attribution": current_app.config["TILE_ATTRIBUTION"],
        "attribution_url": current_app.config["TILE_ATTRIBUTION_URL"],
        "groups": [{"key": g["key"], "name": g["name"], "lat": g["lat"], "lon": g["lon"],
                    "href": group_href(g["key"])} for g in groups],
        **map_areas(request.args.get("level")),
    }
    return _page("map.html", _alternate("/export.geojson"), groups=groups, data=data, total=located["total"],
                 without=max(0, result["total"] - located["total"]), shown=len(groups),
                 directory_href=_href(_args_without()), kinds=kinds())


def map_areas(level: str | None) -> dict:
    """The boundaries the map draws (served here, so they show without tiles): the levels that have
    boundaries, and the chosen one (default the smallest, e.g. ward)."""
    shaped = {c for c, _ in hub().index.areas.shapes()}
    levels = sorted({a["level"] for a in hub().index.areas.all() if a["code"] in shaped and a["level"]},
                    key=lambda lv: (level_rank(lv), lv))
    if not levels:
        return {"levels": [], "level": None, "areas_url": None}
    level = level if level in levels else levels[-1]
    return {"levels": levels, "level": level, "areas_url": "/api/areas.geojson?" + urlencode({"level": level})}


@bp.get("/sources")
def sources():
    try:
        listing = source_listing(request.args)
    except HubnetError as err:
        if err.status != 400:
            raise
        return _page("sources.html", "/sources.json", 400, error=err, listing=None, current="")
    alternate = _alternate("/sources.json")
    pages = offset_pages("/sources", request.args, listing["total"], listing["offset"], listing["limit"],
                         keep=("status", "limit"))
    return _page("sources.html", alternate, listing=listing, current=request.args.get("status", ""), pages=pages,
                 last_crawl=hub().background.last_crawl or hub().index.meta("last_crawl"))

"""The JSON twins of the directory pages: ``/api/groups``, ``/api/groups/<key>``, ``/sources.json``.

Shapes (docs for API users; tests hold them to it)::

    GET /api/groups?q=&topic=&kind=&area=&near=LAT,LON&within_km=&limit=&offset=
    {"total": 3, "limit": 20, "offset": 0, "next": null,
     "groups": [{"id", "key", "name", "url", "kind": [...], "topics": [...], "area": [...],
                 "lat", "lon", "source", "second_hand"[, "distance_km"]}],
     (second_hand: null, or {"from", "imported", "format"} for a group imported by hubnet-crawler import)
     "facets": {"topic": [{"value", "count"}], "kind": [{"value", "label", "count"}], "area": [...]},
     "index": only while the index is being built (a new server, an upgrade): {"state": "building",
              "complete": false, "sources", "sources_indexed", "message"}: the answer may miss groups}

    GET /api/groups/<key>   (key from the list, or the percent-encoded group IRI)
    {... the group ..., "offers": [...], "needs": [...],
     "links": [{"target", "relation", "mutual", "key", "name"}],
     "linked_from": [{"source", "relation", "mutual", "key", "name"}],
     "moved_from": [the group's old IRI and addresses, when it moved here (docs/crawler.md)],
     "source": {the provenance record: status, last_success, last_checked, generated_at (last changed),
                error_message, ..., "outdated": no successful fetch for stale_after_days},
     "memberships": [{"code", "name", "level", "via": "profile"|"profile_name"|"boundary"}]}

A group that moved answers 301 to its new key; one removed (a tombstone) answers 410 Gone in the
one error shape, with the tombstone's reason code; a key never known, 404 (503 ``index_building``
with Retry-After while the index is being built: the group may be one not indexed yet).

Facet values are the exact values the matching parameter takes.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pyoxigraph as ox
from flask import Blueprint, abort, jsonify, redirect, request, url_for

from hubnet.vocab.errors import HubnetError, NotFound

from hubnet.crawler.store import blocklist
from hubnet.crawler.store.index import group_key
from hubnet.crawler.store.secondhand import is_imported, second_hand, second_hand_of
from hubnet.crawler.query.groups import read_group
from hubnet.crawler.store.graph import (FAILED, GONE, HUBNET, MISSING, OK, PROV_GRAPH, STALE, SourceStatus,
                                        days_between, now)
from .current import hub
from .params import bad, read_int, request_budget, search_from
from .render import kind_label

bp = Blueprint("api", __name__)

BUILDING_RETRY_AFTER = 30   # seconds: when to ask again for a group not indexed yet
LIST_FIELDS = ("id", "key", "name", "url", "kind", "topics", "area", "lat", "lon", "source", "second_hand",
               "distance_km")
STATUSES = tuple(s.value for s in SourceStatus)
PROBLEMS_FIRST = tuple(s.value for s in (FAILED, STALE, MISSING, GONE, OK))


# Why a group left the directory, in words, by the reason code on its tombstone.
REMOVED_BECAUSE = {
    "robots_disallowed": "its website's robots.txt asks crawlers like this one not to read its profile",
    "opted_out": "the group asked not to be listed on hubs",
    "expired": "its profile could not be read for {days} days",
    "gone": "the group withdrew its profile",
    "moved": "the group moved to a new website",
}


def find_group(key: str, endpoint: str = "api.group") -> dict:
    """The index row for a key (or a group IRI). A group that moved (store/identity.py) redirects
    (301) to ``endpoint`` for its new key; one removed (a tombstone) is 410 Gone, with the reason
    code and dates; a group never known is 404."""
    row = hub().index.get(key)
    if row is not None:
        return row
    tomb = hub().index.tombstone(key)
    if tomb is None:
        building = index_building()
        if building is not None:
            err = HubnetError(f"no group with the key {key[:200]!r} is indexed yet. {building['message']}",
                              code="index_building", status=503)
            err.retry_after = BUILDING_RETRY_AFTER
            raise err
        raise NotFound(f"no group with the key {key[:200]!r} in the directory; it may have moved or left")
    new = hub().index.get(tomb["moved_to"]) if tomb["moved_to"] else None
    if new is not None:
        abort(redirect(url_for(endpoint, key=new["key"]), 301))
    raise removed(tomb)


def index_building() -> dict | None:
    """None once the index holds every source; while it is being built, its ``status()`` and a
    sentence saying so (shown by the directory page and its JSON twin, and the 503 of a group page)."""
    status = hub().index.status()
    if status["complete"]:
        return None
    done, of = status.get("sources_indexed"), status.get("sources")
    so_far = (f"{done:,} of {of:,} sources indexed so far" if done is not None and of is not None
              else f"{done:,} sources indexed so far" if done is not None else "starting")
    return dict(status, message=f"The directory's index is being built ({so_far}): until it is done, "
                                "searches may miss groups. /health shows its progress.")


def removed(tomb: dict) -> HubnetError:
    """410 Gone for a tombstone: what happened and when, under the tombstone's reason code."""
    why = REMOVED_BECAUSE.get(tomb["reason"], "its profile is no longer published")
    why = why.format(days=hub().settings.remove_after_days)
    err = HubnetError(f"this group was removed from the directory on {(tomb['removed_at'] or '?')[:10]}: {why}. "
                      f"It had been listed since {(tomb['first_seen'] or '?')[:10]}.",
                      code=tomb["reason"] or "gone", status=410)
    err.tombstone = tomb
    return err


def search(args, default_limit: int = 20):
    s = search_from(args, default_limit=default_limit)
    result = hub().index.search(s)
    for item in result["facets"].get("kind", []):
        item["label"] = kind_label(item["value"])
    return s, result


def list_item(group: dict) -> dict:
    return {k: group[k] for k in LIST_FIELDS if k in group}


def mark_second_hand(groups: list) -> list:
    """Each group with ``second_hand``: ``{"from", "imported", "format"}`` if it was imported
    (store/secondhand.py), else None."""
    imported = second_hand_of(hub().store, [g["source"] for g in groups])
    for g in groups:
        g["second_hand"] = imported.get(g["source"])
    return groups


@bp.get("/api/groups")
def groups():
    s, result = search(request.args)
    nxt = None
    if s.offset + s.limit < result["total"]:
        args = {k: v for k, v in request.args.items() if k != "offset"}
        args["offset"] = str(s.offset + s.limit)
        nxt = request.path + "?" + urlencode(args)
    body = {"total": result["total"], "limit": s.limit, "offset": s.offset, "next": nxt,
            "groups": [list_item(g) for g in mark_second_hand(result["groups"])], "facets": result["facets"]}
    building = index_building()
    if building is not None:
        body["index"] = building
    return jsonify(body)


def group_data(row: dict) -> dict:
    """``read_group`` plus whether the source has gone ``stale_after_days`` without a successful fetch."""
    data = read_group(hub().store, hub().index, row, budget=request_budget())
    source = data["source"]
    source["outdated"] = bool(source.get("status")) and not is_imported(source.get("url")) and \
        days_between(source.get("last_success"), now()) >= hub().settings.stale_after_days
    data["second_hand"] = second_hand(hub().store.source(row["source"])) if is_imported(row["source"]) else None
    return data


@bp.get("/api/groups/<path:key>")
def group(key: str):
    row = find_group(key)
    group = group_data(row)
    group["memberships"] = hub().index.areas.of_group(row["id"])   # areas, each with its source (via)
    return jsonify(group)


def source_listing(args) -> dict:
    """Source records (filtered by ?status=, paged by limit/offset), with counts by status.

    Paged on the status index of the provenance graph, so a page of a 100k-source
    store reads only that page's records.
    """
    status = (args.get("status") or "").strip() or None
    if status is not None and status not in STATUSES:
        raise bad("status", f"must be one of {', '.join(STATUSES)} (got {status[:40]!r})")
    limit, offset = read_int(args, "limit", 500, 1, 10_000), read_int(args, "offset", 0, 0, 10_000_000)
    store = hub().store
    pred = ox.NamedNode(HUBNET + "status")
    by_status = {name: sorted(q.subject.value for q in store.oxigraph.quads_for_pattern(
        None, pred, ox.Literal(name), PROV_GRAPH)) for name in PROBLEMS_FIRST}
    counts = {name: len(by_status[name]) for name in STATUSES}
    # Problems first: a volunteer opening this page is looking for what to fix.
    urls = by_status[status] if status else [u for name in PROBLEMS_FIRST for u in by_status[name]]
    records = [r for r in (store.source(u) for u in urls[offset:offset + limit]) if r is not None]
    return {"total": len(urls), "counts": counts, "limit": limit, "offset": offset,
            "sources": [dict(r.to_dict(), key=group_key(r.url)) for r in records],
            "forgotten": blocklist.entries(store)}


@bp.get("/sources.json")
def sources_json():
    return jsonify(source_listing(request.args))

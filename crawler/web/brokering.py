"""Brokering: first points of contact, needs and offers, introductions, the shape of the network.

Each view is a page for people and a JSON twin under ``/api/`` (docs/brokering.md
explains them to a hub officer; examples/queries/ holds the SPARQL forms):

    /contacts        /api/contacts?topic=&kind=&area=&near=LAT,LON&within_km=   (+ /api/contacts.csv)
    /matches         /api/matches[?group=IRI|key][&kind=][&topic=][&area=][&within_km=5][&category=][&per_need=5][&limit=&offset=]
                     /api/links[?mutual=true|false][&limit=&offset=]
    /introductions   /api/introductions?from=IRI|key&to=IRI|key
    /network         /api/network?group=IRI|key&depth=2
                     /api/network/bridges, /api/network/isolated[?area=]

The answers come from ``hubnet.crawler.query.brokering.models.Models``: built from the store once
per change (the index's generation), then answered from memory.
"""

from __future__ import annotations

import csv
import io
import math
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from hubnet.vocab.errors import NotFound
from hubnet.vocab.model import categories, kinds

from hubnet.crawler.query.brokering.models import Models
from hubnet.crawler.query.contacts import contact_details
from hubnet.crawler.store.index import MAX_LIMIT, Search
from hubnet.crawler.query.brokering.matching import DEFAULT_WITHIN_KM, MAX_PER_NEED, MAX_WITHIN_KM
from hubnet.crawler.query.brokering.network import MAX_HOPS
from hubnet.vocab.spreadsheet import cell as _cell
from .current import hub
from .params import MAX_OFFSET, MAX_TEXT, _float, bad, offset_pages, read_int, request_budget, search_from
from .render import alternate_url as _alternate, page as _page

bp = Blueprint("brokering", __name__)
EXTENSION = "hubnet.brokering"
NAME_MATCHES = 50   # groups a name is looked for among (the text search's best matches)


def init_app(app, hub) -> None:
    app.extensions[EXTENSION] = hub.models
    hub.models.start()   # built in the background: the first visitors need not wait
    app.register_blueprint(bp)


def models() -> Models:
    return current_app.extensions[EXTENSION]


def resolve_group(param: str, value: str | None, required: bool = True) -> dict | None:
    """A group from its name, key or IRI; 404 naming the parameter, 400 when a name is not unique.

    People type names (the forms suggest them as they type); programs pass keys or IRIs.
    """
    if value is None or not value.strip():
        if required:
            raise bad(param, "is required: a group's name, key or IRI")
        return None
    value = value.strip()
    row = hub().index.get(value) or _by_name(param, value)
    if row is None:
        raise NotFound(f"{param}: no group called {value[:200]!r} in the directory; "
                       f"search the directory for it at /?{urlencode({'q': value[:200]})}")
    return row


def _by_name(param: str, name: str) -> dict | None:
    """The one group whose name is ``name`` (ignoring case), from the text index."""
    wanted = name.casefold()
    found = [g for g in hub().index.search(Search(q=name, limit=NAME_MATCHES))["groups"]
             if (g["name"] or "").casefold() == wanted]
    if len(found) > 1:
        raise bad(param, f"{len(found)} groups are called {name[:200]!r}; choose one by its key: "
                         + ", ".join(g["key"] for g in found))
    return hub().index.get(found[0]["key"]) if found else None


def _summaries(iris) -> list[dict]:
    """{id, key, name} for each IRI, in order: one index query for the lot, not one per group."""
    iris = list(iris)
    rows = hub().index.by_iris(iris)
    out = []
    for iri in iris:
        row = rows.get(iri)
        out.append({"id": iri, "key": row["key"], "name": row["name"]} if row
                   else {"id": iri, "key": None, "name": models().network.name(iri)})
    return out


# ------------------------------------------------------------------------- first points of contact
CONTACT_COLUMNS = ("name", "contact_name", "email", "telephone", "languages", "url", "topics", "area",
                   "distance_km", "id", "kind", "contact_type")


def _contacts(default_limit: int = 50):
    """The groups of ``kind`` about ``topic`` (its words) in ``area`` (rolled up) or near a point."""
    args = request.args
    s = search_from({"q": args.get("topic", ""), "kind": args.get("kind"), "area": args.get("area"),
                     "near": args.get("near"), "within_km": args.get("within_km"), "limit": args.get("limit"),
                     "offset": args.get("offset")}, default_limit=default_limit)
    result = hub().index.search(s)
    details = contact_details(hub().store, [g["id"] for g in result["groups"]], request_budget())
    groups = []
    for g in result["groups"]:
        groups.append({"id": g["id"], "key": g["key"], "name": g["name"], "kind": g["kind"], "topics": g["topics"],
                       "area": g["area"], "distance_km": g.get("distance_km"),
                       "contact": details.get(g["id"], {})})
    return s, result["total"], groups


@bp.get("/api/contacts")
def api_contacts():
    s, total, groups = _contacts()
    return jsonify({"total": total, "limit": s.limit, "offset": s.offset, "groups": groups})


@bp.get("/api/contacts.csv")
def api_contacts_csv():
    """The council's list: one row per group (up to MAX_LIMIT; ``limit``/``offset`` page further)."""
    _, _, groups = _contacts(default_limit=MAX_LIMIT)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CONTACT_COLUMNS)
    for g in groups:
        c = g["contact"]
        w.writerow([_cell(g["name"]), _cell(c.get("name")), _cell(c.get("email")), _cell(c.get("telephone")),
                    _cell(c.get("languages")), _cell(c.get("url")), _cell(g["topics"]), _cell(g["area"]),
                    "" if g["distance_km"] is None else g["distance_km"], _cell(g["id"]), _cell(g["kind"]),
                    _cell(c.get("type"))])
    resp = Response(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="hubnet-contacts.csv"'
    return resp


@bp.get("/contacts")
def contacts_page():
    asked = any(request.args.get(k) for k in ("topic", "kind", "area", "near"))
    s, total, groups = _contacts() if asked else (None, 0, [])
    return _page("contacts.html", _alternate("/api/contacts"), asked=asked, total=total, groups=groups,
                 csv_href=_alternate("/api/contacts.csv"), args=request.args, kinds=kinds())


# ------------------------------------------------------------------------- needs and offers
def _within() -> float:
    raw = request.args.get("within_km")
    return DEFAULT_WITHIN_KM if raw is None or not raw.strip() else _float("within_km", raw, 0, MAX_WITHIN_KM)


def _category() -> str | None:
    raw = (request.args.get("category") or "").strip()
    if not raw:
        return None
    slugs = [c.slug for c in categories()]
    if raw not in slugs:
        raise bad("category", f"unknown category {raw[:60]!r}; one of: {', '.join(slugs)}")
    return raw


def _matches(default_limit: int):
    """One page of matches: (group row or None, total needs matched, limit, offset, matches)."""
    row = resolve_group("group", request.args.get("group"), required=False)
    per_need = read_int(request.args, "per_need", 5, 1, MAX_PER_NEED)
    limit = read_int(request.args, "limit", default_limit, 1, 500)
    offset = read_int(request.args, "offset", 0, 0, MAX_OFFSET)
    total, page = models().matcher.page(group=row["id"] if row else None, within_km=_within(),
                                        category=_category(), per_need=per_need, offset=offset, limit=limit,
                                        needs_of=_needing_groups())
    items = [m["need"] for m in page] + [o for m in page for o in m["offers"]]
    for item, summary in zip(items, _summaries(item["group"] for item in items)):
        item["group_key"] = summary["key"]
    return row, total, limit, offset, page


def _needing_groups() -> set | None:
    """Whose needs to match, from ``kind=``, ``topic=`` (exact, as the directory's facets) and ``area=``
    (rolled up); None: everyone's."""
    kind, topic, area = _text_arg("kind"), _text_arg("topic"), _area()
    if not (kind or topic or area):
        return None
    return hub().index.group_iris(Search(kind=kind, topic=topic, area=area))


def _text_arg(name: str) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if len(raw) > MAX_TEXT:
        raise bad(name, f"at most {MAX_TEXT} characters")
    return raw or None


def _area() -> str | None:
    """``area=``: a code or a name (any case), with every area below it (crawler/store/areas.py)."""
    return _text_arg("area")


@bp.get("/api/matches")
def api_matches():
    row, total, limit, offset, page = _matches(default_limit=50)
    return jsonify({"group": row["id"] if row else None, "kind": _text_arg("kind"), "topic": _text_arg("topic"),
                    "area": _area(), "within_km": _within(), "category": _category(),
                    "total": total, "limit": limit, "offset": offset, "matches": page})


@bp.get("/matches")
def matches_page():
    row, total, limit, offset, page = _matches(default_limit=20)
    pages = offset_pages("/matches", request.args, total, offset, limit,
                         keep=("group", "kind", "topic", "area", "within_km", "category", "per_need", "limit"))
    return _page("matches.html", _alternate("/api/matches"), group=row, matches=page, within_km=_within(),
                 total=total, first=offset + 1, pages=pages, args=request.args, categories=categories(),
                 kinds=kinds())


@bp.get("/api/links")
def api_links():
    raw = request.args.get("mutual")
    if raw not in (None, "", "true", "false"):
        raise bad("mutual", f"must be true or false (got {raw[:20]!r})")
    limit = read_int(request.args, "limit", 1000, 1, 10_000)
    offset = read_int(request.args, "offset", 0, 0, MAX_OFFSET)
    net = models().network
    links = net.all_links() if not raw else (net.mutual_links() if raw == "true" else net.claimed_links())
    return jsonify({"mutual": None if not raw else raw == "true", "total": len(links), "limit": limit,
                    "offset": offset, "links": links[offset:offset + limit]})


# ------------------------------------------------------------------------- introductions
def _introductions():
    src = resolve_group("from", request.args.get("from"))
    dst = resolve_group("to", request.args.get("to"))
    paths = models().network.introductions(src["id"], dst["id"])
    return src, dst, [_summaries(p) for p in paths]


@bp.get("/api/introductions")
def api_introductions():
    src, dst, paths = _introductions()
    return jsonify({"from": src["id"], "to": dst["id"], "max_hops": MAX_HOPS,
                    "hops": len(paths[0]) - 1 if paths else None, "paths": paths})


@bp.get("/introductions")
def introductions_page():
    asked = request.args.get("from") and request.args.get("to")
    src = dst = None
    paths = []
    if asked:
        src, dst, paths = _introductions()
    return _page("introductions.html", _alternate("/api/introductions"), asked=asked, src=src, dst=dst,
                 paths=paths, max_hops=MAX_HOPS, args=request.args)


# ------------------------------------------------------------------------- the network
def _ego():
    row = resolve_group("group", request.args.get("group"))
    depth = read_int(request.args, "depth", 2, 1, 4)
    ego = models().network.ego(row["id"], depth)
    for n, summary in zip(ego["nodes"], _summaries(n["id"] for n in ego["nodes"])):
        n["key"] = summary["key"]
    return row, ego


@bp.get("/api/network")
def api_network():
    return jsonify(_ego()[1])


@bp.get("/api/network/bridges")
def api_bridges():
    net = models().network
    return jsonify({"bridges": [dict(g, links=len(net.trust.get(g["id"], ()))) for g in _summaries(net.bridges())]})


@bp.get("/api/network/isolated")
def api_isolated():
    isolated = models().network.isolated()
    area = _area()
    if area:
        in_area = hub().index.areas.group_iris(area)
        isolated = [i for i in isolated if i in in_area]
    net = models().network
    return jsonify({"area": area or None,
                    "isolated": [dict(g, claims=net.claims(g["id"])) for g in _summaries(isolated)]})


@bp.get("/network")
def network_page():
    if not request.args.get("group"):
        net = models().network
        isolated = [dict(g, claims=[dict(c, by=net.name(c["claimed_by"]), to=net.name(c["about"]))
                                    for c in net.claims(g["id"])]) for g in _summaries(net.isolated())]
        return _page("network.html", "/api/network/bridges", ego=None, drawing=None,
                     bridges=_summaries(net.bridges()), isolated=isolated)
    row, ego = _ego()
    return _page("network.html", _alternate("/api/network"), ego=ego, group=row, drawing=layout(ego),
                 names={n["id"]: n for n in ego["nodes"]}, bridges=None, isolated=None)


# The drawing's geometry, in SVG user units (= CSS px at full size). A label's width is estimated
# from its length: LABEL_CHAR_WIDTH is a generous average for the 12 px sans-serif the CSS sets.
DRAWING_SIZE = 720
DRAWING_MARGIN = 110          # room outside the outer ring for labels
LABEL_SIZE = 12
LABEL_CHAR_WIDTH = 0.62 * LABEL_SIZE
LABEL_MAX_CHARS = 36          # longer names are shortened on the drawing (in full in the list below it)
NODE_RADIUS = {0: 9}          # the centre group; the others are 6


def layout(ego: dict, size: int = DRAWING_SIZE) -> dict:
    """Positions for an SVG drawing: the group in the middle, each ring of distance further out, and
    for each node a label placed where it overlaps no other label, no node and stays in the box."""
    centre = size / 2
    rings: dict = {}
    for n in ego["nodes"]:
        rings.setdefault(n["distance"], []).append(n)
    pos = {}
    for d, nodes in rings.items():
        radius = 0 if d == 0 else (size / 2 - DRAWING_MARGIN) * d / max(rings)
        offset = math.pi / len(nodes) if d % 2 == 0 else 0   # alternate rings do not line up radially
        for i, n in enumerate(nodes):
            angle = 2 * math.pi * i / len(nodes) - math.pi / 2 + offset
            pos[n["id"]] = (round(centre + radius * math.cos(angle), 1), round(centre + radius * math.sin(angle), 1))
    circles = [(x - 10, y - 10, x + 10, y + 10) for x, y in pos.values()]
    placed: list = []
    nodes = []
    for n in ego["nodes"]:
        x, y = pos[n["id"]]
        label = _place_label(n.get("name") or n["id"], x, y, size, placed, circles)
        nodes.append(dict(n, x=x, y=y, r=NODE_RADIUS.get(n["distance"], 6), label=label))
    edges = [dict(e, x1=pos[e["a"]][0], y1=pos[e["a"]][1], x2=pos[e["b"]][0], y2=pos[e["b"]][1])
             for e in ego["edges"]]
    return {"size": size, "nodes": nodes, "edges": edges, "font": LABEL_SIZE}


def _place_label(name: str, x: float, y: float, size: int, placed: list, circles: list) -> dict | None:
    """The first spot around (x, y) whose box is free, trying the full name then a shortened one;
    None when no spot is free (the name is still in the node's tooltip and the list of links)."""
    texts = [name] if len(name) <= LABEL_MAX_CHARS else []
    texts.append(name[:LABEL_MAX_CHARS - 1].rstrip() + "…")
    texts.append(name[:14].rstrip() + "…")
    h = LABEL_SIZE
    for text in dict.fromkeys(texts):
        w = len(text) * LABEL_CHAR_WIDTH
        # (anchor, baseline x, baseline y): above, below, right, left, then further out
        for anchor, bx, by in (("middle", x, y - 12), ("middle", x, y + 12 + h), ("start", x + 11, y + h / 3),
                               ("end", x - 11, y + h / 3), ("middle", x, y - 12 - 1.5 * h),
                               ("middle", x, y + 12 + 2.5 * h)):
            left = bx - (w / 2 if anchor == "middle" else (w if anchor == "end" else 0))
            box = (left - 2, by - h, left + w + 2, by + h * 0.3)
            if box[0] < 0 or box[1] < 0 or box[2] > size or box[3] > size:
                continue
            if any(_overlap(box, other) for other in placed) or \
                    any(_overlap(box, c) for c in circles if not (c[0] < x < c[2] and c[1] < y < c[3])):
                continue
            placed.append(box)
            return {"text": text, "x": round(bx, 1), "y": round(by, 1), "anchor": anchor, "box": box}
    return None


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]

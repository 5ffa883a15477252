"""Area pages (issue 15): the tree of areas with group counts, and one area's groups, needs and
offers, isolated groups, first points of contact and bridges into neighbouring areas.

    /areas              /api/areas                 every area (largest level first) with its group count
    /areas/<code>       /api/areas/<code>          one area, everything in it rolled up from below
                        /api/areas.geojson[?level=] the operator's boundaries, with group counts (the map)

Areas and memberships come from ``hubnet.crawler.store.areas`` (the index's derived tables);
needs, offers, isolation and bridges from the brokering models; contacts from the store.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from hubnet.vocab.errors import NotFound

from hubnet.crawler.query.contacts import contact_details
from hubnet.crawler.store.areas import level_rank
from hubnet.crawler.store.index import Search
from .params import bad, request_budget
from .render import kind_label, page as _page

bp = Blueprint("areas", __name__)


def hub():
    return current_app.extensions["hubnet"]


def models():
    return current_app.extensions["hubnet.brokering"]


def _href(code: str) -> str:
    return f"/areas/{code}"


def _tree() -> dict:
    areas = hub().index.areas.all()
    known = {a["code"] for a in areas}
    for a in areas:
        a["href"] = _href(a["code"])
    levels = sorted({a["level"] for a in areas if a["level"]}, key=lambda lv: (level_rank(lv), lv))
    return {"total": len(areas), "levels": levels, "areas": areas,
            "roots": [a["code"] for a in areas if a["parent"] not in known]}


@bp.get("/api/areas")
def api_areas():
    return jsonify(_tree())


@bp.get("/areas")
def areas_page():
    tree = _tree()
    by_parent: dict = {}
    for a in tree["areas"]:
        by_parent.setdefault(a["parent"] if a["code"] not in tree["roots"] else None, []).append(a)
    return _page("areas.html", "/api/areas", tree=tree, by_parent=by_parent)


def _area_or_404(code: str) -> dict:
    areas = hub().index.areas
    found = areas.resolve(code)
    area = areas.get(found[0]) if len(found) == 1 else None
    if area is None:
        raise NotFound(f"no area {code[:60]!r}; the areas this hub knows are listed at /api/areas")
    return area


def area_report(code: str) -> dict:
    """Everything about one area, rolled up from the areas below it."""
    cfg_limit = int(current_app.config["AREA_PAGE_LIMIT"])
    index = hub().index
    area = _area_or_404(code)
    code = area["code"]
    result = index.search(Search(area=code, limit=cfg_limit, facet_limit=50))
    in_area = index.areas.group_iris(code)
    net, matcher = models().network, models().matcher
    offers, needs = matcher.current()
    outside = {iri: sorted(net.trust.get(iri, set()) - in_area) for iri in sorted(in_area)}
    outside = {iri: others for iri, others in outside.items() if others}
    neighbours = {o for others in outside.values() for o in others}
    isolated = [i for i in net.isolated() if i in in_area]
    summaries = index.by_iris(set(isolated) | set(outside) | neighbours)   # only the groups named below

    def summary(iri):
        row = summaries.get(iri)
        return {"id": iri, "key": row["key"] if row else None, "name": row["name"] if row else net.name(iri)}

    theirs = index.areas.of_groups(neighbours)
    bridges = [{**summary(iri), "to": [
        dict(summary(o), areas=[{k: m[k] for k in ("code", "name", "level", "named_by")} for m in theirs.get(o, [])])
        for o in others]} for iri, others in outside.items()]
    groups = result["groups"]
    details = contact_details(hub().store, [g["id"] for g in groups], request_budget())
    here = set(index.areas.below([code]))
    via = {iri: sorted({m["via"] for m in ms if m["code"] in here})
           for iri, ms in index.areas.of_groups([g["id"] for g in groups]).items()}
    kinds = [dict(k, label=kind_label(k["value"]),
                  contacts_csv="/api/contacts.csv?" + urlencode({"kind": k["value"], "area": code}))
             for k in result["facets"].get("kind", [])]
    return {
        "area": dict(area, groups=result["total"]),
        "parents": [dict(a, href=_href(a["code"])) for a in index.areas.ancestors(code)],
        "children": [dict(a, href=_href(a["code"])) for a in index.areas.children(code)],
        "kinds": kinds,
        "topics": result["facets"].get("topic", []),
        "groups": [{"id": g["id"], "key": g["key"], "name": g["name"], "kind": g["kind"], "topics": g["topics"],
                    "contact": details.get(g["id"], {}), "via": via.get(g["id"], [])} for g in groups],
        "groups_shown": len(groups),
        "needs": [n.to_dict() for n in needs if n.group in in_area],
        "offers": [o.to_dict() for o in offers if o.group in in_area],
        "isolated": [summary(i) for i in isolated],
        "bridges": bridges,
        "contacts_csv": "/api/contacts.csv?" + urlencode({"area": code}),
    }


@bp.get("/api/areas/<code>")
def api_area(code: str):
    return jsonify(area_report(code))


@bp.get("/areas/<code>")
def area_page(code: str):
    return _page("area.html", f"/api/areas/{code}", report=area_report(code))


@bp.get("/api/areas.geojson")
def areas_geojson():
    """The operator's boundaries as GeoJSON, each with its group count (rolled up), for the map.
    ``level=`` keeps one level (e.g. ward)."""
    level = (request.args.get("level") or "").strip().lower() or None
    if level is not None and len(level) > 50:
        raise bad("level", "at most 50 characters")
    areas = {a["code"]: a for a in hub().index.areas.all()}
    features = []
    for code, polygons in hub().index.areas.shapes():
        a = areas.get(code)
        if a is None or (level is not None and a["level"] != level):
            continue
        features.append({"type": "Feature", "id": code,
                         "geometry": {"type": "MultiPolygon",
                                      "coordinates": [[[list(p) for p in ring] for ring in poly] for poly in polygons]},
                         "properties": {"code": code, "name": a["name"], "level": a["level"], "parent": a["parent"],
                                        "groups": a["groups"], "page": _href(code)}})
    body = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    return Response(body, mimetype="application/geo+json")

"""The directory as Open Referral UK (HSDS 3.0) JSON: ``/export/openreferral.json``.

Councils exchange service directories in Open Referral UK; this lets their tools read the
directory as they read any other. The answer is one page of HSDS 3.0's paginated ``/services``
list (``contents`` plus ``total_items``, ``total_pages``, ``page_number``, ``size``, ``first_page``,
``last_page``, ``empty``), holding every group: each group is an ``organization`` (its ``uri``
the group's IRI) offering one ``service`` in its own words, with a ``location`` when the group
gives coordinates and a ``service_area`` per area it serves. HSDS wants UUIDs; each is a UUID5
of the group's IRI, so the same group keeps the same ids across exports. Only what the text
index holds is exported (what the directory shows), and a removed group is in no export.
Streamed from an index cursor; the counts follow the list, which JSON readers do not mind.
"""

from __future__ import annotations

import json
import uuid

from flask import Blueprint, Response, current_app, stream_with_context

from .render import group_href, public_url

bp = Blueprint("openreferral", __name__)

def _id(iri: str, part: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{iri}#hubnet-oruk-{part}"))


def service(g: dict, page: str) -> dict:
    """One index row -> an HSDS 3.0 service with its organization, location and areas."""
    iri = g["id"]
    org = {"id": _id(iri, "organization"), "name": g["name"], "description": g["description"] or g["name"],
           "website": g["url"], "uri": iri}
    out = {"id": _id(iri, "service"), "organization_id": org["id"], "name": g["name"],
           "description": g["description"], "url": g["url"] or page, "status": "active",
           "organization": org, "service_at_locations": [], "service_areas": []}
    if g["lat"] is not None and g["lon"] is not None:
        location = {"id": _id(iri, "location"), "location_type": "physical", "name": g["name"],
                    "latitude": g["lat"], "longitude": g["lon"]}
        out["service_at_locations"].append({"id": _id(iri, "service-at-location"), "service_id": out["id"],
                                            "location_id": location["id"], "location": location})
    out["service_areas"] = [{"id": _id(iri, f"area-{i}"), "service_id": out["id"], "name": area}
                            for i, area in enumerate(g["area"])]
    return out


@bp.get("/export/openreferral.json")
def export_openreferral():
    index = current_app.extensions["hubnet"].index
    root = public_url("")

    def body():
        yield '{"contents": ['
        n = 0
        for g in index.iter_all():
            yield ("" if n == 0 else ",\n") + json.dumps(service(g, root + group_href(g["key"])), ensure_ascii=False)
            n += 1
        yield "],\n" + json.dumps({"total_items": n, "total_pages": 1, "page_number": 1, "size": n,
                                   "first_page": True, "last_page": True, "empty": n == 0})[1:] + "\n"

    resp = Response(stream_with_context(body()), mimetype="application/json")
    resp.headers["Content-Disposition"] = 'inline; filename="hubnet-openreferral.json"'
    return resp

"""The directory as Open Referral UK (HSDS 3.0) JSON: ``/export/openreferral.json``.

Councils exchange service directories in Open Referral UK; this lets their tools read the
directory as they read any other. The answer is one page of HSDS 3.0's paginated ``/services``
list (``contents`` plus ``total_items``, ``total_pages``, ``page_number``, ``size``, ``first_page``,
``last_page``, ``empty``), holding every group: each group is an ``organization`` (its ``uri``
the group's IRI) offering one ``service`` in its own words, with its email and telephone, a
``location`` when the group gives coordinates and a ``service_area`` per area it serves; a
second-hand group (imported) says so in the service's ``metadata``. The mapping itself, both ways,
is ``crawler/interchange.py``'s. HSDS wants UUIDs; each is a UUID5 of the group's IRI, so the same
group keeps the same ids across exports. Only what the text index holds is exported (what the
directory shows), and a removed group is in no export. Streamed from an index cursor, a chunk of
groups at a time (one contact query per chunk); the counts follow the list, which JSON readers do
not mind.
"""

from __future__ import annotations

import itertools
import json

from flask import Blueprint, Response, current_app, stream_with_context

from hubnet.crawler.interchange import service
from hubnet.crawler.query.contacts import contact_details
from hubnet.crawler.store.secondhand import second_hand_of
from .render import group_href, public_url

bp = Blueprint("openreferral", __name__)
_CHUNK = 200   # groups per contact query


@bp.get("/export/openreferral.json")
def export_openreferral():
    hub = current_app.extensions["hubnet"]
    root = public_url("")

    def body():
        yield '{"contents": ['
        n = 0
        rows = hub.index.iter_all()
        while chunk := list(itertools.islice(rows, _CHUNK)):
            contacts = contact_details(hub.store, [g["id"] for g in chunk])
            imported = second_hand_of(hub.store, [g["source"] for g in chunk])
            for g in chunk:
                item = service(g, root + group_href(g["key"]), contacts.get(g["id"]), imported.get(g["source"]))
                yield ("" if n == 0 else ",\n") + json.dumps(item, ensure_ascii=False)
                n += 1
        yield "],\n" + json.dumps({"total_items": n, "total_pages": 1, "page_number": 1, "size": n,
                                   "first_page": True, "last_page": True, "empty": n == 0})[1:] + "\n"

    resp = Response(stream_with_context(body()), mimetype="application/json")
    resp.headers["Content-Disposition"] = 'inline; filename="hubnet-openreferral.json"'
    return resp

"""A page per source (issue 14): its health and the problems of its profile, with a JSON twin.

``/sources/<key>`` -> ``/api/sources/<key>``. The key is the one groups get
(``index.group_key``: the host name plus a hash of the source's URL), so it is stable and
shows whose source it is. Problems are those of the editor's rules (crawl/checks.py), kept
on the source's provenance record: reading them costs no validation.
"""

from __future__ import annotations

import pyoxigraph as ox
from flask import Blueprint, current_app, jsonify

from hubnet.vocab.errors import NotFound

from hubnet.crawler.store.graph import HUBNET, PROV_GRAPH
from hubnet.crawler.store.index import group_key
from .render import page

bp = Blueprint("health", __name__)


@bp.app_template_filter("source_key")
def source_key(url: str) -> str:
    return group_key(url)


def find_source(key: str) -> dict:
    """The source record (as JSON) whose key is ``key``; NotFound otherwise."""
    store = current_app.extensions["hubnet"].store
    status = ox.NamedNode(HUBNET + "status")
    for q in store.oxigraph.quads_for_pattern(None, status, None, PROV_GRAPH):
        if isinstance(q.subject, ox.NamedNode) and group_key(q.subject.value) == key:
            record = store.source(q.subject.value)
            if record is not None:
                return dict(record.to_dict(), key=key)
    raise NotFound(f"no source with the key {key[:200]!r}; the list of sources is at /sources")


@bp.get("/api/sources/<path:key>")
def source_json(key: str):
    return jsonify(find_source(key))


@bp.get("/sources/<path:key>")
def source_page(key: str):
    return page("source.html", f"/api/sources/{key}", source=find_source(key))

"""Data out: the whole store, the directory as CSV/GeoJSON, a VoID description, health.

Large answers are streamed (``/dump.nq`` writes quads in chunks as it reads
them; the exports write one row at a time from an index cursor), so a 100k
group network never sits in memory as one response.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading

import pyoxigraph as ox
from flask import Blueprint, Response, current_app, jsonify, render_template, request, stream_with_context, url_for

from hubnet import __version__

from hubnet.vocab.spreadsheet import cell as _cell
from hubnet.crawler.store.index import MAX_LIMIT
from hubnet.crawler.store.graph import PROV as PROV_NS, PROV_GRAPH
from hubnet.vocab.model import HUBNET, ORG, SCHEMA
from .api import mark_second_hand
from .current import hub
from .params import search_from
from .render import group_href, public_url

bp = Blueprint("data", __name__)

# imported_from/imported: set for a second-hand group (hubnet-crawler import), empty for the group's own words.
CSV_COLUMNS = ("id", "key", "name", "url", "kind", "topics", "area", "lat", "lon", "source", "page",
               "imported_from", "imported")
FILTERS = ("q", "topic", "kind", "area", "near", "within_km")   # the directory's (and the map's) filters
_CHUNK = 2000
_void_cache: dict = {}
_void_lock = threading.Lock()


# ------------------------------------------------------------------------- the whole store
@bp.get("/dump.nq")
def dump():
    """Every graph (sources and provenance) as N-Quads, streamed."""
    store = hub().store.oxigraph

    def chunks():
        batch = []
        for quad in store.quads_for_pattern(None, None, None, None):
            batch.append(quad)
            if len(batch) >= _CHUNK:
                yield ox.serialize(batch, format=ox.RdfFormat.N_QUADS)
                batch = []
        if batch:
            yield ox.serialize(batch, format=ox.RdfFormat.N_QUADS)

    resp = Response(stream_with_context(chunks()), mimetype="application/n-quads")
    resp.headers["Content-Disposition"] = 'inline; filename="hubnet-dump.nq"'
    return resp


# ------------------------------------------------------------------------- the directory as tables
def selected(located: bool = False):
    """The groups the directory's filters choose (all of them without filters), streamed.

    The parameters are read here, before the response starts, so a bad one is a 400; the rows
    are then read a page of MAX_LIMIT at a time (without counts or facets)."""
    index = hub().index
    if not any((request.args.get(k) or "").strip() for k in FILTERS):
        return index.iter_all(with_coordinates=located)
    s = search_from({k: v for k, v in request.args.items() if k in FILTERS})
    s.limit, s.located, s.counts = MAX_LIMIT, located, False

    def pages():
        offset = 0
        while True:
            s.offset = offset
            groups = index.search(s)["groups"]
            yield from groups
            if len(groups) < s.limit:
                return
            offset += s.limit
    return pages()


def marked(groups, chunk: int = _CHUNK):
    """The groups, streamed on, each with ``second_hand`` (api.mark_second_hand), a chunk at a time."""
    groups = iter(groups)
    while batch := list(itertools.islice(groups, chunk)):
        yield from mark_second_hand(batch)


@bp.get("/export.csv")
def export_csv():
    """The directory as a table; ``q``, ``topic``, ``kind``, ``area``, ``near``, ``within_km`` as on ``/``."""
    groups = selected()
    root = public_url("")

    def rows():
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        for g in marked(groups):
            imported = g["second_hand"] or {}
            writer.writerow([_cell(g["id"]), g["key"], _cell(g["name"]), _cell(g["url"]), _cell(g["kind"]),
                             _cell(g["topics"]), _cell(g["area"]),
                             "" if g["lat"] is None else repr(g["lat"]), "" if g["lon"] is None else repr(g["lon"]),
                             _cell(g["source"]), root + group_href(g["key"]), _cell(imported.get("from") or ""),
                             imported.get("imported") or ""])
            if buf.tell() > 64 * 1024:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    resp = Response(stream_with_context(rows()), mimetype="text/csv")
    resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = 'attachment; filename="hubnet-groups.csv"'
    return resp


@bp.get("/export.geojson")
def export_geojson():
    """A FeatureCollection of the groups that give coordinates ([lon, lat], as GeoJSON wants), chosen
    by the directory's filters, so the map's JSON twin holds the map's groups."""
    groups = selected(located=True)
    root = public_url("")

    def features():
        yield '{"type": "FeatureCollection", "features": ['
        first = True
        for g in marked(groups):
            feature = {"type": "Feature", "id": g["key"],
                       "geometry": {"type": "Point", "coordinates": [g["lon"], g["lat"]]},
                       "properties": {"id": g["id"], "key": g["key"], "name": g["name"], "url": g["url"],
                                      "kind": g["kind"], "topics": g["topics"], "area": g["area"],
                                      "source": g["source"], "page": root + group_href(g["key"]),
                                      "second_hand": g["second_hand"]}}
            yield ("" if first else ",\n") + json.dumps(feature, ensure_ascii=False)
            first = False
        yield "]}\n"

    return Response(stream_with_context(features()), mimetype="application/geo+json")


# ------------------------------------------------------------------------- the page that explains them
@bp.get("/downloads")
def downloads():
    """What each export holds and what it is for: the "Downloads" menu item (it used to open VoID's Turtle)."""
    return render_template("downloads.html", groups=hub().index.meta("groups", 0),
                           sparql="sparql" in current_app.blueprints, endpoint=public_url(url_for("sparql.sparql"))
                           if "sparql" in current_app.blueprints else None)


# ------------------------------------------------------------------------- VoID
def _void_counts(store, generation) -> dict:
    """Triples and distinct subjects over every graph, cached until the index says the data changed."""
    with _void_lock:
        cached = _void_cache.get(id(store))
        if cached and cached[0] == generation:
            return cached[1]
    counts = {}
    for name, query in (("triples", "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"),
                        ("subjects", "SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }")):
        counts[name] = int(next(iter(store.query(query)))["n"].value)
    # When the data last changed: the newest graph written (an unchanged re-crawl writes nothing).
    newest = next(iter(store.query(
        f"SELECT (MAX(?t) AS ?n) WHERE {{ GRAPH <{PROV_GRAPH.value}> {{ ?s <{PROV_NS}generatedAtTime> ?t }} }}")))["n"]
    counts["modified"] = newest.value if newest is not None else None
    with _void_lock:
        _void_cache[id(store)] = (generation, counts)
    return counts


@bp.get("/.well-known/void")
def void():
    h = hub()
    counts = _void_counts(h.store, (h.index.meta("generation", 0), h.index.meta("last_crawl")))
    modified = counts["modified"]
    V, DC, XSD = "http://rdfs.org/ns/void#", "http://purl.org/dc/terms/", "http://www.w3.org/2001/XMLSchema#"
    ds = ox.NamedNode(public_url(url_for("data.void")) + "#dataset")
    a = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")

    def t(p, o):
        return ox.Triple(ds, ox.NamedNode(p), o)

    triples = [
        ox.Triple(ds, a, ox.NamedNode(V + "Dataset")),
        t(DC + "title", ox.Literal("hubnet: community groups and the links between them")),
        t(DC + "description", ox.Literal("Group profiles crawled from the groups' own websites, one named graph "
                                         "per source, with a provenance record for each source.")),
        t(V + "triples", ox.Literal(str(counts["triples"]), datatype=ox.NamedNode(XSD + "integer"))),
        t(V + "distinctSubjects", ox.Literal(str(counts["subjects"]), datatype=ox.NamedNode(XSD + "integer"))),
        t(V + "dataDump", ox.NamedNode(public_url(url_for("data.dump")))),
        *(t(V + "vocabulary", ox.NamedNode(str(ns))) for ns in (SCHEMA, HUBNET, ORG, PROV_NS)),
        t(V + "feature", ox.NamedNode("http://www.w3.org/ns/formats/N-Quads")),
        t(V + "rootResource", ox.NamedNode(public_url(url_for("directory.index")))),
    ]
    if "sparql" in current_app.blueprints:
        triples.append(t(V + "sparqlEndpoint", ox.NamedNode(public_url(url_for("sparql.sparql")))))
    if modified:
        triples.append(t(DC + "modified", ox.Literal(modified, datatype=ox.NamedNode(XSD + "dateTime"))))
    body = ox.serialize(triples, format=ox.RdfFormat.TURTLE,
                        prefixes={"void": V, "dcterms": DC, "xsd": XSD})
    return Response(body, content_type="text/turtle; charset=utf-8")


# ------------------------------------------------------------------------- health
@bp.get("/health")
def health():
    """Cheap: counts kept by the index at its last sync, the crawler thread's state, the index's state."""
    h = hub()
    by_status = h.index.meta("sources", {}) or {}
    crawler = h.background.status()
    return jsonify({
        "ok": True,
        "version": __version__,
        "sources": sum(by_status.values()),
        "sources_by_status": by_status,
        "groups": h.index.meta("groups", 0),
        "last_crawl": crawler["last_crawl"] or h.index.meta("last_crawl"),
        "crawler": crawler,
        "refresh_error": h.refresher.last_error,   # the index sync / model builds after the last crawl
        "index": h.index.status(),   # building (searches may miss groups), updating or ready, with progress
    })

"""Data out: the N-Quads dump parses back, CSV and GeoJSON have one row per group, VoID, health."""

from __future__ import annotations

import csv
import io
import json

import pyoxigraph as ox

from hubnet.crawler.store.graph import PROV_GRAPH
from hubnet.crawler.web.data import _cell
from server_helpers import CRAWLED_GROUPS, XSS_NAME

VOID = "http://rdfs.org/ns/void#"


def test_dump_parses_back_with_every_graph(network):
    resp = network.client.get("/dump.nq")
    assert resp.status_code == 200 and resp.mimetype == "application/n-quads"
    assert resp.is_streamed
    quads = list(ox.parse(resp.data, format=ox.RdfFormat.N_QUADS))
    graphs = {q.graph_name.value for q in quads}
    assert PROV_GRAPH.value in graphs
    assert network.fed.url("alpha.test") in graphs
    assert len(quads) == len(network.hub.store.oxigraph)
    names = {q.object.value for q in quads if q.predicate.value == "http://schema.org/name"}
    assert XSS_NAME in names


def test_csv_has_one_row_per_group(network):
    resp = network.client.get("/export.csv")
    assert resp.status_code == 200 and resp.content_type == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == CRAWLED_GROUPS
    alpha = next(r for r in rows if r["name"].startswith("Marsh Gate"))
    assert alpha["kind"] == "residents-association"
    assert alpha["topics"] == "community lunch; green spaces; housing repairs"
    assert (alpha["lat"], alpha["lon"]) == ("51.5631", "-0.0105")
    assert alpha["page"].endswith("/groups/" + alpha["key"])


def test_csv_cells_cannot_be_spreadsheet_formulas():
    assert _cell("=HYPERLINK(\"http://evil\")") == "'=HYPERLINK(\"http://evil\")"
    assert _cell("@SUM(A1)") == "'@SUM(A1)" and _cell("+1") == "'+1" and _cell("-2") == "'-2"
    assert _cell(["a", "b"]) == "a; b" and _cell(None) == "" and _cell("plain") == "plain"


def test_geojson_has_located_groups_as_lon_lat(network):
    resp = network.client.get("/export.geojson")
    assert resp.status_code == 200 and resp.mimetype == "application/geo+json"
    doc = json.loads(resp.data)
    assert doc["type"] == "FeatureCollection"
    assert len(doc["features"]) == CRAWLED_GROUPS - 1            # the youth club gives no coordinates
    alpha = next(f for f in doc["features"] if f["properties"]["name"].startswith("Marsh Gate"))
    assert alpha["geometry"] == {"type": "Point", "coordinates": [-0.0105, 51.5631]}
    assert alpha["properties"]["id"] == network.fed.group_iri("alpha.test")


def test_void_describes_the_dataset(network):
    resp = network.client.get("/.well-known/void")
    assert resp.status_code == 200 and resp.content_type == "text/turtle; charset=utf-8"
    triples = list(ox.parse(resp.data, format=ox.RdfFormat.TURTLE))
    by = {}
    for t in triples:
        by.setdefault(t.predicate.value, []).append(t.object.value)
    assert by["http://www.w3.org/1999/02/22-rdf-syntax-ns#type"] == [VOID + "Dataset"]
    assert int(by[VOID + "triples"][0]) == len(network.hub.store.oxigraph)
    assert int(by[VOID + "distinctSubjects"][0]) > CRAWLED_GROUPS
    assert by[VOID + "sparqlEndpoint"] == ["http://localhost/sparql"]
    assert by[VOID + "dataDump"] == ["http://localhost/dump.nq"]
    assert {"http://schema.org/", "https://w3id.org/hubnet/ns#"} <= set(by[VOID + "vocabulary"])
    assert by["http://purl.org/dc/terms/modified"][0].startswith("20")


def test_health_is_quick_json(network):
    resp = network.client.get("/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["ok"] is True
    assert body["sources"] == 7 and body["sources_by_status"] == {"ok": 6, "failed": 1}
    assert body["groups"] == CRAWLED_GROUPS
    assert body["crawler"]["running"] is True and body["crawler"]["pending_pings"] == 0
    assert "last_crawl" in body

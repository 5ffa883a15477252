"""/sparql against a live waitress server on loopback: the SPARQL 1.1 Protocol query cases.

Modelled on the W3C SPARQL 1.1 Protocol test suite (query_get, query_post_form,
query_post_direct, query_dataset_*, query_multiple_dataset, query_content_type_*,
bad_query_*, bad_update_*), plus content negotiation, CORS, the browser page, the
example queries, and one run of the unmodified SPARQLWrapper client.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pyoxigraph as ox
import pytest
import requests
from SPARQLWrapper import JSON, TURTLE, SPARQLWrapper

from hubnet.crawler.web.sparql import PAGE_EXAMPLES, load_examples
from sparql_support import ALPHA, BETA, NETWORK, PROV_GRAPH, LiveServer, fill_store, make_app

pytestmark = pytest.mark.slow

JSON_RESULTS = "application/sparql-results+json"
FORM = "application/x-www-form-urlencoded"
DIRECT = "application/sparql-query"
NAMES = ("PREFIX schema: <http://schema.org/> SELECT ?name WHERE { VALUES ?t { schema:Organization schema:NGO } "
         "?g a ?t ; schema:name ?name } ORDER BY ?name")


@pytest.fixture(scope="module", params=["embedded", "virtuoso"])
def live(request, tmp_path_factory):
    """The protocol cases on both backends: the embedded store, and the session's Virtuoso."""
    path = tmp_path_factory.mktemp("protocol")
    remote = None
    if request.param == "virtuoso":
        from hubnet.crawler.settings import Settings
        from hubnet.crawler.store.remote import RemoteStore

        server = request.getfixturevalue("virtuoso")
        server.reset()
        remote = RemoteStore(server.spec, Settings(store_local_dir=str(path / "local")))
    store = fill_store(path, store=remote)
    server = LiveServer(make_app(store, timeout=10.0, row_cap=10_000, workers=2))
    yield server
    server.close()


def names(resp) -> list:
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    return [b["name"]["value"] for b in doc["results"]["bindings"]]


def ask(resp) -> bool:
    assert resp.status_code == 200, resp.text
    return resp.json()["boolean"]


def error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    assert doc["ok"] is False and doc["error"]["status"] == status and doc["error"]["code"] == code, doc
    assert doc["error"]["message"]
    return doc


# ---------------------------------------------------------------------- the three ways to query
def test_query_get(live):
    r = requests.get(live.url, params={"query": NAMES}, timeout=10)
    assert r.headers["Content-Type"] == JSON_RESULTS
    assert names(r) == ["Alpha Garden Group", "Beta Youth Club", "Leyton Community Network"]
    assert r.headers["Vary"] == "Accept"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Hubnet-Truncated" not in r.headers


def test_query_post_form(live):
    r = requests.post(live.url, data={"query": "ASK {}"}, timeout=10)
    assert ask(r) is True


def test_query_post_direct(live):
    r = requests.post(live.url, data=NAMES.encode(), headers={"Content-Type": DIRECT}, timeout=10)
    assert len(names(r)) == 3


def test_query_post_direct_with_utf8_charset_and_non_ascii_text(live):
    query = 'SELECT ?x { BIND("Café ✓" AS ?x) }'
    r = requests.post(live.url, data=query.encode("utf-8"),
                      headers={"Content-Type": DIRECT + "; charset=UTF-8"}, timeout=10)
    assert r.json()["results"]["bindings"][0]["x"]["value"] == "Café ✓"


def test_head_is_answered_like_get(live):
    r = requests.head(live.url, params={"query": "ASK {}"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == JSON_RESULTS


# ---------------------------------------------------------------------- datasets
def test_default_graph_is_the_union_of_all_graphs_including_provenance(live):
    r = requests.get(live.url, params={"query": "SELECT DISTINCT ?t { ?s a ?t }"}, timeout=10)
    types = {b["t"]["value"] for b in r.json()["results"]["bindings"]}
    assert "http://schema.org/NGO" in types and "https://w3id.org/hubnet/ns#Source" in types


def test_query_dataset_default_graphs_get(live):
    # query_dataset_default_graphs_get: two default-graph-uri parameters are merged.
    r = requests.get(live.url, params=[("query", NAMES), ("default-graph-uri", ALPHA), ("default-graph-uri", BETA)],
                     timeout=10)
    assert names(r) == ["Alpha Garden Group", "Beta Youth Club"]
    r = requests.get(live.url, params=[("query", NAMES), ("default-graph-uri", NETWORK)], timeout=10)
    assert names(r) == ["Leyton Community Network"]


def test_query_dataset_default_graphs_post(live):
    r = requests.post(live.url, data=[("query", NAMES), ("default-graph-uri", ALPHA), ("default-graph-uri", BETA)],
                      timeout=10)
    assert names(r) == ["Alpha Garden Group", "Beta Youth Club"]
    # A direct POST carries the dataset in the URL.
    r = requests.post(live.url, params={"default-graph-uri": BETA}, data=NAMES,
                      headers={"Content-Type": DIRECT}, timeout=10)
    assert names(r) == ["Beta Youth Club"]


def test_query_dataset_named_graphs(live):
    query = "SELECT DISTINCT ?g { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"
    for method in ("get", "post"):
        kw = {"params" if method == "get" else "data": [("query", query), ("named-graph-uri", ALPHA),
                                                        ("named-graph-uri", NETWORK)]}
        r = getattr(requests, method)(live.url, timeout=10, **kw)
        assert [b["g"]["value"] for b in r.json()["results"]["bindings"]] == [ALPHA, NETWORK]
    # Only named graphs given: the default graph is empty.
    r = requests.get(live.url, params=[("query", NAMES), ("named-graph-uri", ALPHA)], timeout=10)
    assert names(r) == []


def test_query_dataset_full(live):
    query = ("PREFIX schema: <http://schema.org/> SELECT ?name ?g { ?x schema:name ?name "
             "GRAPH ?g { ?s schema:memberOf ?o } } ORDER BY ?g")
    r = requests.post(live.url, params=[("default-graph-uri", NETWORK), ("named-graph-uri", ALPHA),
                                        ("named-graph-uri", BETA)],
                      data=query, headers={"Content-Type": DIRECT}, timeout=10)
    rows = [(b["name"]["value"], b["g"]["value"]) for b in r.json()["results"]["bindings"]]
    assert rows == [("Leyton Community Network", ALPHA), ("Leyton Community Network", BETA)]


def test_query_from_clause_selects_in_store_graphs(live):
    q = f"PREFIX schema: <http://schema.org/> SELECT ?name FROM <{BETA}> {{ ?g a schema:NGO ; schema:name ?name }}"
    assert names(requests.get(live.url, params={"query": q}, timeout=10)) == ["Beta Youth Club"]
    q = f"SELECT ?g FROM NAMED <{NETWORK}> {{ GRAPH ?g {{ ?s ?p ?o }} }} LIMIT 1"
    r = requests.get(live.url, params={"query": q}, timeout=10)
    assert [b["g"]["value"] for b in r.json()["results"]["bindings"]] == [NETWORK]


def test_query_multiple_dataset_protocol_wins_over_from(live):
    # query_multiple_dataset: the protocol's dataset replaces the query's FROM.
    q = f"PREFIX schema: <http://schema.org/> ASK FROM <{ALPHA}> {{ <{BETA}#group> schema:name ?n }}"
    assert ask(requests.get(live.url, params={"query": q}, timeout=10)) is False
    assert ask(requests.get(live.url, params={"query": q, "default-graph-uri": BETA}, timeout=10)) is True


def test_dataset_parameters_must_name_graphs_in_the_store(live):
    for param in ("default-graph-uri", "named-graph-uri"):
        r = requests.get(live.url, params={"query": "ASK {}", param: "http://127.0.0.2/elsewhere"}, timeout=10)
        error(r, 400, "unknown_graph")


# ---------------------------------------------------------------------- content types
def test_query_content_type_select(live):
    r = requests.post(live.url, data="SELECT (1 AS ?value) {}", headers={"Content-Type": DIRECT}, timeout=10)
    assert r.headers["Content-Type"] == JSON_RESULTS
    assert r.json()["results"]["bindings"] == [
        {"value": {"type": "literal", "value": "1", "datatype": "http://www.w3.org/2001/XMLSchema#integer"}}]


def test_query_content_type_ask(live):
    r = requests.post(live.url, data="ASK {}", headers={"Content-Type": DIRECT, "Accept": "*/*"}, timeout=10)
    assert r.headers["Content-Type"] == JSON_RESULTS and r.json() == {"head": {}, "boolean": True}
    r = requests.post(live.url, data="ASK {}", timeout=10,
                      headers={"Content-Type": DIRECT, "Accept": "application/sparql-results+xml"})
    assert r.headers["Content-Type"] == "application/sparql-results+xml"
    assert ET.fromstring(r.content).find("{http://www.w3.org/2005/sparql-results#}boolean").text == "true"


def test_query_content_type_describe(live, request):
    if "virtuoso" in request.node.callspec.id:
        pytest.skip("what DESCRIBE returns is the server's choice (SPARQL 1.1 section 16.4); Virtuoso's "
                    "differs from Oxigraph's, docs/scaling.md")
    r = requests.post(live.url, data=f"DESCRIBE <{NETWORK}#group>", headers={"Content-Type": DIRECT}, timeout=10)
    assert r.headers["Content-Type"] == "text/turtle; charset=utf-8"
    triples = [q.triple for q in ox.parse(r.content, format=ox.RdfFormat.TURTLE)]
    assert ox.Triple(ox.NamedNode(NETWORK + "#group"), ox.NamedNode("http://schema.org/name"),
                     ox.Literal("Leyton Community Network")) in triples


def test_query_content_type_construct(live):
    r = requests.post(live.url, data="CONSTRUCT { <http://ex/s> <http://ex/p> 1 } WHERE {}",
                      headers={"Content-Type": DIRECT}, timeout=10)
    assert r.headers["Content-Type"] == "text/turtle; charset=utf-8"
    assert len(list(ox.parse(r.content, format=ox.RdfFormat.TURTLE))) == 1


@pytest.mark.parametrize("accept, expected", [
    ("application/sparql-results+xml", "application/sparql-results+xml"),
    ("text/csv", "text/csv; charset=utf-8"),
    ("text/tab-separated-values", "text/tab-separated-values; charset=utf-8"),
    ("application/json", "application/json"),
    ("text/csv;q=0.5, application/sparql-results+xml;q=0.9", "application/sparql-results+xml"),
    ("application/sparql-results+json;q=0.1, text/tab-separated-values", "text/tab-separated-values; charset=utf-8"),
    ("text/*", "text/csv; charset=utf-8"),
    ("text/csv;q=0, */*", JSON_RESULTS),
])
def test_select_results_by_accept_with_q_values(live, accept, expected):
    r = requests.get(live.url, params={"query": NAMES}, headers={"Accept": accept}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == expected
    assert "Beta Youth Club" in r.text
    if expected.startswith("text/csv"):
        assert r.text.splitlines()[0] == "name"


@pytest.mark.parametrize("accept, fmt", [
    ("text/turtle", ox.RdfFormat.TURTLE),
    ("application/n-triples", ox.RdfFormat.N_TRIPLES),
    ("application/ld+json", ox.RdfFormat.JSON_LD),
    ("application/rdf+xml", ox.RdfFormat.RDF_XML),
    ("application/n-triples;q=0.2, application/ld+json;q=0.8", ox.RdfFormat.JSON_LD),
])
def test_construct_by_accept(live, accept, fmt):
    q = "PREFIX schema: <http://schema.org/> CONSTRUCT { ?g schema:name ?n } WHERE { ?g a ?t ; schema:name ?n FILTER(?t IN (schema:Organization, schema:NGO)) }"
    r = requests.get(live.url, params={"query": q}, headers={"Accept": accept}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == {
        ox.RdfFormat.TURTLE: "text/turtle", ox.RdfFormat.N_TRIPLES: "application/n-triples",
        ox.RdfFormat.JSON_LD: "application/ld+json", ox.RdfFormat.RDF_XML: "application/rdf+xml"}[fmt]
    assert len(list(ox.parse(r.content, format=fmt))) == 3


def test_turtle_uses_the_query_prefixes(live):
    q = "PREFIX schema: <http://schema.org/> CONSTRUCT { ?g schema:name ?n } WHERE { ?g a ?t ; schema:name ?n FILTER(?t IN (schema:Organization, schema:NGO)) }"
    r = requests.get(live.url, params={"query": q}, headers={"Accept": "text/turtle"}, timeout=10)
    assert "@prefix schema: <http://schema.org/> ." in r.text and "schema:name" in r.text


def test_unacceptable_accept_is_406(live):
    r = requests.get(live.url, params={"query": NAMES}, headers={"Accept": "image/png"}, timeout=10)
    error(r, 406, "not_acceptable")
    r = requests.get(live.url, params={"query": "CONSTRUCT WHERE { ?s ?p ?o }"},
                     headers={"Accept": "application/sparql-results+json"}, timeout=10)
    error(r, 406, "not_acceptable")
    r = requests.get(live.url, params={"query": NAMES}, headers={"Accept": "text/turtle"}, timeout=10)
    error(r, 406, "not_acceptable")


# ---------------------------------------------------------------------- bad requests (W3C bad_* cases)
def test_bad_query_method(live):
    r = requests.put(live.url, params={"query": "ASK {}"}, timeout=10)
    error(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET, POST, OPTIONS"
    error(requests.delete(live.url, params={"query": "ASK {}"}, timeout=10), 405, "method_not_allowed")


def test_bad_multiple_queries(live):
    r = requests.get(live.url, params=[("query", "ASK {}"), ("query", "SELECT * {}")], timeout=10)
    error(r, 400, "multiple_queries")
    # A query in the URL and another in a direct POST body is two queries too.
    r = requests.post(live.url, params={"query": "ASK {}"}, data="ASK {}", headers={"Content-Type": DIRECT},
                      timeout=10)
    error(r, 400, "multiple_queries")


def test_bad_query_wrong_media_type(live):
    r = requests.post(live.url, data="ASK {}", headers={"Content-Type": "text/plain"}, timeout=10)
    error(r, 415, "unsupported_media_type")


def test_bad_query_missing_form_type(live):
    r = requests.post(live.url, data=b"query=ASK%20%7B%7D", headers={"Content-Type": ""}, timeout=10)
    error(r, 415, "unsupported_media_type")


def test_bad_query_missing_direct_type(live):
    r = requests.post(live.url, data=b"ASK {}", headers={"Content-Type": ""}, timeout=10)
    error(r, 415, "unsupported_media_type")


def test_bad_query_non_utf8(live):
    # bad_query_non_utf8: a direct POST declared UTF-16.
    r = requests.post(live.url, data="ASK {}".encode("utf-16"),
                      headers={"Content-Type": DIRECT + "; charset=UTF-16"}, timeout=10)
    error(r, 415, "unsupported_media_type")


def test_bad_request_encoding(live):
    # Bytes that are not UTF-8, in each place a query can come from: never guessed, always 400.
    r = requests.get(live.url + "?query=ASK%20%7B%7D%20%23%FF", timeout=10)
    error(r, 400, "bad_encoding")
    r = requests.post(live.url, data=b"query=ASK%20%7B%7D%20%23%C3%28", headers={"Content-Type": FORM}, timeout=10)
    error(r, 400, "bad_encoding")
    r = requests.post(live.url, data=b"ASK {} # \xff\xfe", headers={"Content-Type": DIRECT}, timeout=10)
    error(r, 400, "bad_encoding")
    r = requests.post(live.url, data=b"query=ASK+%7B%7D", headers={"Content-Type": FORM + "; charset=ISO-8859-1"},
                      timeout=10)
    error(r, 415, "unsupported_media_type")


def test_bad_query_syntax(live):
    doc = error(requests.get(live.url, params={"query": "ASK {"}, timeout=10), 400, "malformed_query")
    assert "not valid SPARQL" in doc["error"]["message"] and "1:" in doc["error"]["message"]
    error(requests.post(live.url, data={"query": "SELEKT * {}"}, timeout=10), 400, "malformed_query")


def test_missing_and_empty_query(live):
    error(requests.get(live.url, timeout=10), 400, "missing_query")
    error(requests.get(live.url, headers={"Accept": "*/*"}, timeout=10), 400, "missing_query")
    error(requests.post(live.url, data={"default-graph-uri": ALPHA}, timeout=10), 400, "missing_query")
    error(requests.post(live.url, data="  \n", headers={"Content-Type": DIRECT}, timeout=10), 400, "missing_query")


@pytest.mark.parametrize("how", ["get", "form", "direct", "form+query"])
def test_bad_update_cases(live, how):
    """bad_update_get and friends: an update is refused whatever way it comes (G4)."""
    update = "CLEAR ALL"
    if how == "get":
        r = requests.get(live.url, params={"update": update}, timeout=10)
    elif how == "form":
        r = requests.post(live.url, data=[("update", "CLEAR NAMED"), ("update", "CLEAR DEFAULT")], timeout=10)
    elif how == "direct":
        r = requests.post(live.url, data=update, headers={"Content-Type": "application/sparql-update"}, timeout=10)
    else:
        r = requests.post(live.url, data={"query": "ASK {}", "update": update}, timeout=10)
    error(r, 400, "update_forbidden")


def test_too_many_parameters(live):
    r = requests.get(live.url, params=[("x", str(i)) for i in range(150)] + [("query", "ASK {}")], timeout=10)
    error(r, 400, "bad_request")


# ---------------------------------------------------------------------- CORS, service description, page
def test_cors_preflight(live):
    r = requests.options(live.url, headers={"Origin": "https://elsewhere.example",
                                            "Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "content-type"}, timeout=10)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in r.headers["Access-Control-Allow-Headers"]
    # Errors carry the header too, so a page elsewhere can read the message.
    r = requests.get(live.url, params={"query": "ASK {"}, headers={"Origin": "https://x.example"}, timeout=10)
    assert r.headers["Access-Control-Allow-Origin"] == "*"


def test_service_description_for_rdf_clients(live):
    r = requests.get(live.url, headers={"Accept": "text/turtle"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/turtle; charset=utf-8"
    triples = list(ox.parse(r.content, format=ox.RdfFormat.TURTLE))
    sd = "http://www.w3.org/ns/sparql-service-description#"
    # The endpoint's address comes from the configured PUBLIC_URL, never the request's Host.
    from hubnet.crawler.web import DEFAULTS

    endpoint = DEFAULTS["PUBLIC_URL"] + "/sparql"
    assert any(t.predicate.value == sd + "endpoint" and t.object.value == endpoint for t in triples)
    assert any(t.object.value == sd + "SPARQL11Query" for t in triples)


def test_browser_gets_the_query_page(live):
    accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    r = requests.get(live.url, headers={"Accept": accept}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page = r.text
    assert '<textarea id="query" name="query"' in page
    assert "/sparql/static/sparql.js" in page and "http" not in re.findall(r'<script src="([^"]+)"', page)[0]
    data = re.search(r'<script id="examples-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    examples = json.loads(data)
    assert 4 <= len(examples) <= 6
    assert [e["name"] for e in examples] == [e["name"] for e in load_examples()]
    assert all(e["title"].endswith("?") and e["query"] for e in examples)
    js = requests.get(live.url.replace("/sparql", "/sparql/static/sparql.js"), timeout=10)
    assert js.status_code == 200 and "textContent" in js.text and ".innerHTML" not in js.text


def test_examples_data_cannot_break_out_of_the_script_block():
    from flask import Flask, render_template

    from hubnet.crawler.web.sparql import bp

    app = Flask(__name__)
    app.register_blueprint(bp)
    evil = [{"name": "x", "title": "</script><script>alert(1)</script>?", "description": "", "query": "<!--"}]
    with app.test_request_context("/sparql"):
        html = render_template("sparql.html", layout=app.jinja_env.from_string("{% block main %}{% endblock %}"),
                               examples=evil, first_query="</textarea><script>alert(2)</script>",
                               timeout=10, row_cap=10, max_kib=10)
    assert "<script>alert" not in html


# Example queries Virtuoso 7.2's SQL compiler fails on (docs/scaling.md): the answer says so clearly.
VIRTUOSO_CANNOT = {"umbrella-members": "SQ074"}


@pytest.mark.parametrize("name", PAGE_EXAMPLES)
def test_page_examples_run_and_answer_on_the_fixture(live, name, request):
    example = {e["name"]: e for e in load_examples()}[name]
    r = requests.post(live.url, data={"query": example["query"]}, timeout=10)
    if "virtuoso" in request.node.callspec.id and name in VIRTUOSO_CANNOT:
        doc = error(r, 503, "query_failed")
        assert VIRTUOSO_CANNOT[name] in doc["error"]["message"]
        return
    assert r.status_code == 200, r.text
    assert r.json()["results"]["bindings"], f"{name} found nothing in the fixture"


# ---------------------------------------------------------------------- a real third-party client
def test_sparqlwrapper_select_json_and_construct(live):
    client = SPARQLWrapper(live.url)
    client.setQuery(NAMES)
    client.setReturnFormat(JSON)
    doc = client.query().convert()
    assert [b["name"]["value"] for b in doc["results"]["bindings"]][0] == "Alpha Garden Group"

    client = SPARQLWrapper(live.url)
    client.setQuery("PREFIX schema: <http://schema.org/> CONSTRUCT { ?g schema:name ?n } WHERE { ?g a ?t ; schema:name ?n FILTER(?t IN (schema:Organization, schema:NGO)) }")
    graph = client.queryAndConvert()  # default RDF/XML, parsed by rdflib
    assert len(graph) == 3

    client.setReturnFormat(TURTLE)
    client.setMethod("POST")
    body = client.query().convert()
    assert b"Leyton Community Network" in body


def test_provenance_graph_is_queryable(live):
    q = (f"PREFIX hubnet: <https://w3id.org/hubnet/ns#> SELECT ?code {{ GRAPH <{PROV_GRAPH}> "
         "{ ?s hubnet:errorCode ?code } }")
    r = requests.get(live.url, params={"query": q}, timeout=10)
    assert [b["code"]["value"] for b in r.json()["results"]["bindings"]] == ["http_500"]


def test_inside_the_aggregator_app(tmp_path):
    """The project's app factory wires the blueprint: the page sits in the site layout, queries work."""
    from hubnet.crawler.web import create_app

    store = fill_store(tmp_path)
    app = create_app({"STORE": store, "BACKGROUND": False, "QUERY_TIMEOUT": 5.0, "QUERY_WORKERS": 1})
    try:
        client = app.test_client()
        page = client.get("/sparql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and b'<textarea id="query"' in page.data and b'class="site"' in page.data
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
        r = client.get("/sparql", query_string={"query": NAMES})
        assert r.status_code == 200 and len(r.get_json()["results"]["bindings"]) == 3
        r = client.get("/sparql", query_string={"query": "SELECT * { SERVICE <http://127.0.0.2/> { } }"})
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "service_forbidden"
    finally:
        app.extensions["hubnet"].close()


def test_page_script_is_valid_javascript():
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = Path(__file__).resolve().parents[3] / "crawler" / "web" / "static" / "sparql.js"
    subprocess.run([node, "--check", str(script)], check=True, timeout=30)

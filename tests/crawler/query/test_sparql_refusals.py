"""Everything that could reach outside the store or change it is refused before evaluation.

threats.md T15 and cases G1-G4, G8: SERVICE (anywhere: SILENT, inside OPTIONAL, UNION, a
subquery, FILTER EXISTS), FROM/FROM NAMED naming graphs that are not in the store, LOAD,
INSERT DATA, DROP ALL, huge and deeply nested queries. Each case checks the status, the
code, that the loopback canary server (the SERVICE/FROM target) got zero connections, and
after the update attempts that the store's quads are unchanged.
"""

from __future__ import annotations

import pytest
import requests

from hubnet.crawler.query.sparql import check_query
from sparql_support import ALPHA, Canary, LiveServer, fill_store, make_app, store_digest
from hubnet.vocab.errors import QueryError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    store = fill_store(tmp_path_factory.mktemp("refusals"))
    canary = Canary()
    server = LiveServer(make_app(store, timeout=5.0, workers=2))
    yield server, canary, store
    server.close()
    canary.close()


def send(server, query: str, how: str):
    if how == "get":
        return requests.get(server.url, params={"query": query}, timeout=10)
    if how == "form":
        return requests.post(server.url, data={"query": query}, timeout=10)
    return requests.post(server.url, data=query.encode("utf-8"),
                         headers={"Content-Type": "application/sparql-query"}, timeout=10)


def refused(resp, status: int, code: str):
    assert resp.status_code == status, (resp.status_code, resp.text)
    doc = resp.json()
    assert doc == {"ok": False, "error": {"status": status, "code": code, "message": doc["error"]["message"]}}


SERVICE_CASES = {
    "plain": "SELECT * {{ SERVICE <{url}sparql> {{ ?s ?p ?o }} }}",
    "silent": "SELECT * {{ SERVICE SILENT <{url}sparql> {{ ?s ?p ?o }} }}",
    "127.0.0.2": "SELECT * {{ SERVICE <http://127.0.0.2/sparql> {{ ?s ?p ?o }} }}",
    "optional": "SELECT * {{ ?s ?p ?o OPTIONAL {{ SERVICE <{url}> {{ ?s ?q ?v }} }} }}",
    "union": "SELECT * {{ {{ ?s ?p ?o }} UNION {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }}",
    "subquery": "SELECT * {{ {{ SELECT ?s {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }} }}",
    "filter-exists": "SELECT * {{ ?s ?p ?o FILTER EXISTS {{ SERVICE <{url}> {{ ?s ?p ?o }} }} }}",
    "filter-not-exists": "ASK {{ FILTER NOT EXISTS {{ SERVICE SILENT <{url}> {{ ?s ?p ?o }} }} }}",
    "variable-endpoint": "SELECT * {{ BIND(<{url}> AS ?e) SERVICE ?e {{ ?s ?p ?o }} }}",
    "lower-case": "select * {{ service <{url}> {{ ?s ?p ?o }} }}",
    "after-a-comment-line": "SELECT * {{ # a comment\n SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "construct": "CONSTRUCT {{ ?s ?p ?o }} WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "describe": "DESCRIBE ?s WHERE {{ SERVICE <{url}> {{ ?s ?p ?o }} }}",
    # Tokenizer/parser disagreements that used to hide a SERVICE from the lexical check:
    "escaped-hash-in-prefixed-name": "PREFIX ex: <http://ex/> SELECT * {{ ?s ex:p\\# ?o . SERVICE <{url}> {{ ?s ?p ?o }} }}",
    "escaped-quote-in-prefixed-name": "PREFIX ex: <http://ex/> SELECT * {{ ?s ex:p\\' ?o . SERVICE <{url}> {{ ?s ?p ?o }} . ?s ex:q\\' ?o }}",
    "unicode-escape-in-iri": "SELECT * {{ ?s <http://ex/\\u0041#> ?o . SERVICE <{url}> {{ ?s ?p ?o }} }}",
}


@pytest.mark.parametrize("how", ["get", "form", "direct"])
@pytest.mark.parametrize("case", sorted(SERVICE_CASES))
def test_service_is_refused_and_never_called(env, case, how):
    """G1, G2."""
    server, canary, _ = env
    resp = send(server, SERVICE_CASES[case].format(url=canary.url), how)
    refused(resp, 400, "service_forbidden")
    assert canary.hits == []


def test_service_inside_strings_iris_and_comments_is_not_a_keyword(env):
    """The check reads tokens: the word "service" in data is fine (groups do offer services)."""
    server, canary, _ = env
    for query in ['ASK { ?s ?p "a SERVICE <http://127.0.0.2/>" }',
                  "ASK { ?s <http://ex/SERVICE> ?o }",
                  "ASK { ?s ?p ?o } # SERVICE <http://127.0.0.2/> { }",
                  'ASK { ?s ?p """multi\nline SERVICE""" }',
                  "ASK { ?service ?p ?o }"]:
        resp = send(server, query, "get")
        assert resp.status_code == 200, (query, resp.text)
    assert canary.hits == []


@pytest.mark.parametrize("how", ["get", "form", "direct"])
@pytest.mark.parametrize("query", [
    "SELECT * FROM <file:///etc/passwd> { ?s ?p ?o }",
    "SELECT * FROM NAMED <http://127.0.0.2/x> { GRAPH ?g { ?s ?p ?o } }",
    "SELECT * FROM <{url}data.ttl> {{ ?s ?p ?o }}",
    "SELECT * FROM NAMED <{url}data.ttl> {{ GRAPH ?g {{ ?s ?p ?o }} }}",
    "SELECT * FROM <" + ALPHA + "> FROM <{url}data.ttl> {{ ?s ?p ?o }}",
    "ASK FROM ex:g { ?s ?p ?o }",
])
def test_from_names_only_graphs_in_the_store(env, how, query):
    """G3: never a file open or a fetch; the graph is in the store or the query is refused."""
    server, canary, _ = env
    resp = send(server, query.format(url=canary.url) if "{url}" in query else query, how)
    refused(resp, 400, "unknown_graph")
    assert canary.hits == []


def test_unknown_graph_in_dataset_parameters_is_refused(env):
    server, canary, _ = env
    for param in ("default-graph-uri", "named-graph-uri"):
        for iri in ("file:///etc/passwd", canary.url + "x", "http://127.0.0.2/x"):
            resp = requests.get(server.url, params={"query": "ASK { ?s ?p ?o }", param: iri}, timeout=10)
            refused(resp, 400, "unknown_graph")
    assert canary.hits == []


UPDATES = [
    "LOAD <{url}data.ttl>",
    "LOAD SILENT <{url}data.ttl> INTO GRAPH <http://x/g>",
    "INSERT DATA {{ <http://x/s> <http://x/p> <http://x/o> }}",
    "DELETE DATA {{ <http://x/s> <http://x/p> <http://x/o> }}",
    "DELETE WHERE {{ ?s ?p ?o }}",
    "DROP ALL",
    "CLEAR ALL",
    "CREATE GRAPH <http://x/g>",
    "COPY DEFAULT TO <http://x/g>",
    "WITH <http://x/g> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
]


@pytest.mark.parametrize("update", UPDATES)
def test_updates_are_refused_whichever_way_they_come(env, update):
    """G4: as query text (GET, form, direct POST), as update= (GET, form), as a sparql-update body."""
    server, canary, store = env
    before = store_digest(store)
    text = update.format(url=canary.url)
    for how in ("get", "form", "direct"):
        refused(send(server, text, how), 400, "update_forbidden")
    refused(requests.get(server.url, params={"update": text}, timeout=10), 400, "update_forbidden")
    refused(requests.post(server.url, data={"update": text}, timeout=10), 400, "update_forbidden")
    refused(requests.post(server.url, data=text, headers={"Content-Type": "application/sparql-update"},
                          timeout=10), 400, "update_forbidden")
    for ctype in ("text/plain", "application/json", "application/sparql-update; charset=utf-16"):
        resp = requests.post(server.url, data=text, headers={"Content-Type": ctype}, timeout=10)
        assert resp.status_code in (400, 415)
    assert store_digest(store) == before
    assert canary.hits == []


def test_one_mebibyte_query_is_413_unread(env):
    """G8."""
    server, canary, _ = env
    big = "SELECT * { ?s ?p ?o } #" + "x" * (1024 * 1024) + f"\nSERVICE <{canary.url}>"
    refused(send(server, big, "direct"), 413, "query_too_long")
    refused(send(server, big, "form"), 413, "query_too_long")
    # A GET that long is stopped by the HTTP server itself (request line/headers limit).
    resp = requests.get(server.url, params={"query": big}, timeout=10)
    assert resp.status_code in (413, 414, 431, 400)
    # Just over 10 KiB of query text (and so within the body limit) is refused by the query check.
    text = "ASK { ?s ?p ?o } #" + "y" * (10 * 1024)
    refused(send(server, text, "direct"), 413, "query_too_long")
    assert canary.hits == []


def test_deep_nesting_is_refused_before_parsing(env):
    """G8: 10,000-deep braces are over the size limit; 5,000-deep fit it and are refused as too deep."""
    server, canary, _ = env
    refused(send(server, "SELECT * " + "{" * 10_000 + "}" * 10_000, "direct"), 413, "query_too_long")
    refused(send(server, "SELECT * " + "{" * 5_000 + "}" * 5_000, "direct"), 400, "too_deep")
    refused(send(server, "SELECT * { FILTER(" + "(" * 4000 + "1" + ")" * 4000 + ") }", "direct"), 400, "too_deep")
    # The server still answers (no crashed worker, no RecursionError).
    assert send(server, "ASK {}", "get").json()["boolean"] is True
    assert canary.hits == []


def test_check_query_unit_cases():
    """The lexical check itself, for the cases that are easy to get wrong."""
    ok = ["SELECT * { ?s ?p 'SERVICE' }", "SELECT ?load { ?load ?p ?o }", "ASK { <http://x/LOAD> ?p ?o }",
          "PREFIX ex: <http://ex/> ASK { ?s ex:a\\.b ?o }", "SELECT * { ?s ?p ?o FILTER(?o < 3) }"]
    for q in ok:
        check_query(q, lambda iri: True)
    bad = {"SELECT * { SERVICE <http://x/> { } }": "service_forbidden",
           "LOAD <http://x/>": "update_forbidden",
           "ASK { ?s ?p ?o } ; DROP ALL": "update_forbidden",
           "ASK { ?s ?p ?o \\ }": "malformed_query",
           "SELECT * FROM <http://nope/> {}": "unknown_graph"}
    for q, code in bad.items():
        with pytest.raises(QueryError) as info:
            check_query(q, lambda iri: False)
        assert info.value.code == code, q


def test_without_the_check_pyoxigraph_would_call_the_canary(tmp_path):
    """Why all this matters: pyoxigraph itself evaluates SERVICE with a real HTTP request.

    Also proves the canary counts connections, so the "zero hits" above mean something.
    """
    import pyoxigraph as ox

    canary = Canary()
    try:
        store = ox.Store()
        try:
            list(store.query(f"SELECT * {{ SERVICE <{canary.url}sparql> {{ ?s ?p ?o }} }}"))
        except (OSError, RuntimeError, ValueError):
            pass  # the canary's answer is not SPARQL results; the request was made all the same
        assert len(canary.hits) >= 1
    finally:
        canary.close()

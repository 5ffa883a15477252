"""Per-client rate limit on /sparql: one client may not hold every query worker."""

from __future__ import annotations


def test_sparql_is_rate_limited_per_client(fresh_network):
    net = fresh_network(SPARQL_LIMIT="3 per minute", BACKGROUND=False)
    client = net.client
    query = {"query": "ASK { ?s ?p ?o }"}
    for _ in range(3):
        assert client.get("/sparql", query_string=query).status_code == 200
    r = client.get("/sparql", query_string=query)
    assert r.status_code == 429
    assert r.get_json()["ok"] is False and r.get_json()["error"]["code"] == "rate_limited"

"""The crawler end to end over loopback: discovery, storage, re-crawl, lifecycle.

A `Federation` plays many websites on one loopback server; the real crawler
(real fetcher, parser and Oxigraph store on disk) crawls it.
"""

from __future__ import annotations

import json

import pytest

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import GONE, MISSING, OK, PROV_GRAPH, STALE, Store

SCHEMA = "http://schema.org/"


def settings_for(fed, **kw) -> Settings:
    return fed.settings(**kw)


def crawl(fed, store, seeds=(), **kw):
    return Crawler(store, settings_for(fed, **kw)).crawl(list(seeds))


def names(store) -> set:
    q = f"SELECT ?n {{ ?g a <{SCHEMA}Organization> ; <{SCHEMA}name> ?n }}"
    return {r["n"].value for r in store.query(q)}


def graph_snapshot(store, graph: str) -> str:
    return content_hash(store.graph_triples(graph))


def build_network(fed):
    """umbrella (static file) lists alpha and beta as members; alpha and beta link back and to each other."""
    fed.put_profile("umbrella.test", "Leyton Network",
                    member=[fed.group_iri("alpha.test"), fed.group_iri("beta.test")])
    fed.put_profile("alpha.test", "Alpha Residents", path="/",
                    memberOf=fed.group_iri("umbrella.test"), linkedTo=fed.group_iri("beta.test"))
    fed.put_profile("beta.test", "Beta Food Bank", path="/",
                    linkedTo=fed.group_iri("alpha.test"), vouchesFor=fed.group_iri("gamma.test"))
    fed.put_profile("gamma.test", "Gamma Youth", path="/")
    return fed.url("umbrella.test", "/profile.jsonld")


# ---------------------------------------------------------------------- discovery and storage
def test_crawl_follows_links_and_keeps_one_graph_per_source(fed, store):
    seed = build_network(fed)
    summary = crawl(fed, store, [seed])
    assert summary.counts["new"] == 4, summary.to_dict()
    assert names(store) == {"Leyton Network", "Alpha Residents", "Beta Food Bank", "Gamma Youth"}
    # each group's statements live in the graph of the document that made them
    rows = store.query(f"SELECT ?g ?n {{ GRAPH ?g {{ ?s <{SCHEMA}name> ?n }} }}")
    by_graph = {r["n"].value: r["g"].value for r in rows}
    assert by_graph["Alpha Residents"] == fed.url("alpha.test", "/")
    assert by_graph["Leyton Network"] == seed
    # vouchesFor (a sub-property of org:linkedTo) was followed to gamma
    assert fed.requests_to("gamma.test", "/")
    # the group IRI of the umbrella (/#group) is described by /profile.jsonld: no fetch of "/" needed
    assert not fed.requests_to("umbrella.test", "/")


def test_provenance_record_per_source(fed, store):
    seed = build_network(fed)
    crawl(fed, store, [seed])
    rec = store.source(fed.url("alpha.test", "/"))
    assert rec.status == OK
    assert rec.found_via == "link" and rec.found_from == seed and rec.depth == 1
    assert rec.etag and rec.content_hash and rec.triples > 5 and rec.last_success
    assert rec.content_hash == graph_snapshot(store, rec.graph)
    # PROV-O: the graph was derived from the source, at a time
    q = (f"ASK {{ GRAPH <{PROV_GRAPH.value}> {{ <{rec.graph}> <http://www.w3.org/ns/prov#wasDerivedFrom> <{rec.url}> ."
         f" <{rec.url}> <http://www.w3.org/ns/prov#generatedAtTime> ?t }} }}")
    assert bool(store.query(q))


def test_second_crawl_gets_304s_and_writes_nothing(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    fed.clear_log()
    summary = crawl(fed, store)
    assert summary.counts["unchanged"] == 4 and summary.writes == 0, summary.to_dict()
    profile_requests = [e for e in fed.log if e[1] != "/robots.txt"]
    assert len(profile_requests) == 4
    assert all("If-None-Match" in e[2] for e in profile_requests)


def test_same_content_without_etag_is_not_rewritten(fed, store):
    """D7: a server without validators sends the same bytes: the hash matches, no write."""
    fed.put_profile("plain.test", "Plain Group", path="/")
    fed.sites["plain.test"]["/"].etag = False
    crawl(fed, store, [fed.url("plain.test", "/")])
    summary = crawl(fed, store)
    assert summary.counts["unchanged"] == 1 and summary.writes == 0


def test_edited_profile_is_updated(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    other = graph_snapshot(store, fed.url("beta.test", "/"))
    fed.put_profile("alpha.test", "Alpha Residents' Association", path="/",
                    memberOf=fed.group_iri("umbrella.test"))
    summary = crawl(fed, store)
    assert summary.counts["updated"] == 1
    assert "Alpha Residents' Association" in names(store) and "Alpha Residents" not in names(store)
    assert graph_snapshot(store, fed.url("beta.test", "/")) == other


def test_each_url_fetched_once_per_crawl(fed, store):
    """D8: two sources link to a third; it is fetched once."""
    build_network(fed)
    fed.put_profile("delta.test", "Delta", path="/", linkedTo=fed.group_iri("gamma.test"))
    crawl(fed, store, [fed.url("beta.test", "/"), fed.url("delta.test", "/")])
    assert len(fed.requests_to("gamma.test", "/")) == 1


def test_limits_on_depth_and_sources(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")], max_depth=1)
    assert "Gamma Youth" not in names(store)  # gamma is two links from the seed
    summary = Crawler(Store(None), settings_for(fed, max_sources=2)).crawl([fed.url("umbrella.test", "/profile.jsonld")])
    fetched = summary.counts["new"] + summary.counts["failed"]
    assert fetched == 2 and summary.counts["skipped"] >= 1


def test_bare_domain_seed_uses_well_known(fed, store):
    fed.put_profile("node.test", "Node Group", path="/profile.jsonld")
    fed.put("node.test", "/.well-known/hubnet",
            {"hubnet": "0.1", "profile": fed.url("node.test", "/profile.jsonld")}, content_type="application/json")
    summary = Crawler(store, settings_for(fed)).crawl([f"node.test:{fed.port}"])
    assert "Node Group" in names(store), summary.to_dict()


# ---------------------------------------------------------------------- lifecycle (threats.md F1-F5)
def test_410_removes_the_graph_and_keeps_a_tombstone(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    fed.put("gamma.test", "/", "withdrawn", content_type="text/plain", status=410)
    summary = crawl(fed, store)
    assert summary.counts["deleted"] == 1
    assert "Gamma Youth" not in names(store)
    rec = store.source(fed.url("gamma.test", "/"))
    assert rec.status == GONE and rec.removed_at and rec.error_code == "gone"
    assert fed.url("gamma.test", "/") not in store.named_graphs()


def test_a_tombstone_still_linked_to_is_left_as_it_is(fed, store):
    """beta still vouches for gamma after gamma's 410: each re-crawl asks gamma again, but
    while it answers 410 nothing is deleted twice and the tombstone (its date) is not rewritten."""
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    fed.put("gamma.test", "/", "withdrawn", content_type="text/plain", status=410)
    crawl(fed, store)
    tombstone = store.source(fed.url("gamma.test", "/"))
    for _ in range(2):
        fed.clear_log()
        summary = crawl(fed, store)
        assert fed.requests_to("gamma.test", "/")
        assert (summary.counts["deleted"], summary.writes) == (0, 0), summary.to_dict()
        assert store.source(fed.url("gamma.test", "/")) == tombstone


def test_404_removes_only_after_three_misses(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    fed.remove("gamma.test", "/")
    for expected_misses in (1, 2):
        crawl(fed, store)
        rec = store.source(fed.url("gamma.test", "/"))
        assert rec.status == MISSING and rec.misses == expected_misses
        assert "Gamma Youth" in names(store)  # kept meanwhile
    crawl(fed, store)
    assert store.source(fed.url("gamma.test", "/")).status == GONE
    assert "Gamma Youth" not in names(store)


def test_404_count_resets_when_the_profile_returns(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    fed.remove("gamma.test", "/")
    crawl(fed, store)
    fed.put_profile("gamma.test", "Gamma Youth", path="/")
    crawl(fed, store)
    rec = store.source(fed.url("gamma.test", "/"))
    assert rec.status == OK and rec.misses == 0


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_keep_the_last_good_graph(fed, store, status):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    before = graph_snapshot(store, fed.url("beta.test", "/"))
    fed.put("beta.test", "/", "oops", content_type="text/plain", status=status)
    summary = crawl(fed, store)
    assert {f.code for f in summary.failures} == {f"http_{status}"}
    rec = store.source(fed.url("beta.test", "/"))
    assert rec.status == STALE and str(status) in rec.error_message
    assert graph_snapshot(store, fed.url("beta.test", "/")) == before
    # and it recovers when the site does
    fed.put_profile("beta.test", "Beta Food Bank", path="/")
    crawl(fed, store)
    assert store.source(fed.url("beta.test", "/")).status == OK


def test_valid_then_invalid_keeps_last_good_graph(fed, store):
    build_network(fed)
    crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")])
    before = graph_snapshot(store, fed.url("alpha.test", "/"))
    fed.put("alpha.test", "/", b'{"@context": "https://w3id.org/hubnet/context.jsonld", "name": ')
    summary = crawl(fed, store)
    assert summary.failures[0].code == "invalid_document"
    rec = store.source(fed.url("alpha.test", "/"))
    assert rec.status == STALE and "not valid JSON" in rec.error_message
    assert graph_snapshot(store, fed.url("alpha.test", "/")) == before


def test_same_origin_redirect_moves_the_graph(fed, store):
    """F5: /old now redirects to /new on the same site: one graph, under the new URL."""
    fed.put_profile("moving.test", "Moving Group", path="/old")
    crawl(fed, store, [fed.url("moving.test", "/old")])
    assert fed.url("moving.test", "/old") in store.named_graphs()
    fed.put_profile("moving.test", "Moving Group", path="/new")
    fed.put("moving.test", "/old", "", content_type="text/plain", status=301,
            headers={"Location": fed.url("moving.test", "/new")})
    crawl(fed, store)
    graphs = store.named_graphs()
    assert fed.url("moving.test", "/new") in graphs and fed.url("moving.test", "/old") not in graphs
    assert names(store) == {"Moving Group"}


# ---------------------------------------------------------------------- seeing what happened
def test_summary_json_lists_failures_with_reason_codes(fed, store):
    build_network(fed)
    fed.put("gamma.test", "/", "<html>no data here</html>", content_type="text/html")
    d = crawl(fed, store, [fed.url("umbrella.test", "/profile.jsonld")]).to_dict()
    assert d["sources"]["new"] == 3 and d["sources"]["failed"] == 1
    assert d["failures"] == [{"url": fed.url("gamma.test", "/"), "code": "no_jsonld",
                              "message": 'the page has no <script type="application/ld+json"> block'}]
    assert d["failed_by_reason"] == {"no_jsonld": 1}
    json.dumps(d)  # serialisable as is


def test_the_same_group_at_a_second_address_is_not_stored_twice(fed, store):
    """A node answers at / and at /profile.jsonld: one source is kept, the other reported as a duplicate."""
    doc = fed.put_profile("node.test", "Node Group", path="/")
    fed.put("node.test", "/profile.jsonld", doc)
    summary = crawl(fed, store, [fed.url("node.test", "/")])
    assert summary.counts["new"] == 1
    summary = crawl(fed, store, [fed.url("node.test", "/profile.jsonld")])
    [dup] = [o for o in summary.outcomes if o.url == fed.url("node.test", "/profile.jsonld")]
    assert dup.result == "skipped" and dup.code == "duplicate" and fed.url("node.test", "/") in dup.message
    assert store.source(fed.url("node.test", "/profile.jsonld")) is None
    assert fed.url("node.test", "/profile.jsonld") not in store.named_graphs()

"""Hostile documents against the whole crawl pipeline (threats.md §5, groups C and D).

Each case: a victim site is crawled first; then a hostile source is crawled;
the test asserts the typed reason recorded for the hostile source AND that the
victim's graph is byte-for-byte the same statements as before.
"""

from __future__ import annotations

import json

import pytest

from hubnet.vocab.authority import speaks_for
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import OK, Store
from hubnet.testing import CONTEXT

SCHEMA = "http://schema.org/"
pytestmark = pytest.mark.usefixtures("parse_workers")   # each case parsed in-process and in a parser process


@pytest.fixture
def world(fed, tmp_path):
    """A store already holding the victim's profile."""
    fed.put_profile("victim.test", "Victim Tenants' Association", path="/")
    store = Store(tmp_path / "store")
    run(fed, store, [fed.url("victim.test", "/")])
    victim_graph = fed.url("victim.test", "/")
    before = content_hash(store.graph_triples(victim_graph))
    yield store, victim_graph, before
    store.close()


def run(fed, store, seeds, **kw):
    s = fed.settings("victim.test", "evil.test", "ok.test", **kw)
    return Crawler(store, s).crawl(seeds, recheck_known=False)


def hostile(fed, store, body, content_type="application/ld+json", path="/"):
    fed.put("evil.test", path, body, content_type=content_type)
    summary = run(fed, store, [fed.url("evil.test", path)])
    [outcome] = [o for o in summary.outcomes if o.url == fed.url("evil.test", path)]
    return outcome


def victim_unchanged(store, graph, before):
    return content_hash(store.graph_triples(graph)) == before


def evil(fed, **extra):
    doc = {"@context": CONTEXT, "@id": fed.url("evil.test", "/#group"), "@type": "Organization",
           "name": "Evil", "email": "e@evil.test"}
    doc.update(extra)
    return doc


# ---------------------------------------------------------------------- C: parsing
CONTEXT_CASES = {
    "C1 loopback context": lambda fed: "http://127.0.0.2:9/ctx",
    "C2 file context": lambda fed: "file:///etc/passwd",
    "C2 relative context": lambda fed: "../secret.jsonld",
    "C11 unknown https context": lambda fed: "https://unknown.example/ctx.jsonld",
    "C4 context chain list": lambda fed: [CONTEXT, fed.url("ok.test", "/ctx1")],
}


@pytest.mark.parametrize("case", sorted(CONTEXT_CASES))
def test_unpinned_contexts_are_refused_with_zero_fetches(fed, world, case):
    store, graph, before = world
    fed.put("ok.test", "/ctx1", {"@context": {"name": "http://evil.example/name"}})
    doc = evil(fed)
    doc["@context"] = CONTEXT_CASES[case](fed)
    outcome = hostile(fed, store, doc)
    assert outcome.code == "unsupported_context"
    assert fed.requests_to("ok.test") == [] and fed.requests_to("victim.test", "/ctx") == []
    assert victim_unchanged(store, graph, before)


def test_c11_import_of_unpinned_context_refused(fed, world):
    store, graph, before = world
    doc = evil(fed)
    doc["@context"] = [CONTEXT, {"@import": fed.url("ok.test", "/ctx1")}]
    assert hostile(fed, store, doc).code == "unsupported_context"
    assert fed.requests_to("ok.test") == []


def test_c3_pinned_contexts_expand_locally(fed, world):
    store, graph, before = world
    doc = evil(fed)
    doc["@context"] = "https://schema.org/"
    outcome = hostile(fed, store, doc)
    assert outcome.result == "new"
    assert victim_unchanged(store, graph, before)


def test_c5_html_with_self_alternate_link_is_one_request(fed, world):
    store, graph, before = world
    fed.put("evil.test", "/", "<html><body>hi</body></html>", content_type="text/html",
            headers={"Link": f'<{fed.url("evil.test", "/")}>; rel="alternate"; type="application/ld+json"'})
    summary = run(fed, store, [fed.url("evil.test", "/")])
    assert summary.failures[0].code == "no_jsonld"
    assert len(fed.requests_to("evil.test", "/")) == 1


@pytest.mark.parametrize("depth,code", [(100_000, "too_deep"), (400, "too_deep"), (70, "too_deep")])
def test_c6_deep_nesting(fed, world, depth, code):
    store, graph, before = world
    body = '{"@context": "https://schema.org", "@type": "NGO", "name": "x", "description": ' + "[" * depth + "]" * depth + "}"
    outcome = hostile(fed, store, body.encode())
    assert outcome.code in (code, "too_large")  # 100k levels exceed the 256 KiB body cap first
    assert victim_unchanged(store, graph, before)


def test_c7_too_many_triples(fed, world):
    store, graph, before = world
    doc = evil(fed, knowsAbout=[f"topic {i}" for i in range(6000)])
    outcome = hostile(fed, store, doc)
    assert outcome.code == "too_many_triples"
    assert fed.url("evil.test", "/") not in store.named_graphs()


def test_c8_huge_literal_and_iri(fed, world):
    store, graph, before = world
    assert hostile(fed, store, evil(fed, description="x" * 70_000)).code == "literal_too_long"
    assert hostile(fed, store, evil(fed, url="http://evil.test/" + "a" * 10_000)).code == "iri_too_long"
    assert victim_unchanged(store, graph, before)


def test_c9_named_graph_injection_refused(fed, world):
    store, graph, before = world
    doc = {"@context": "https://schema.org", "@id": graph,
           "@graph": [{"@id": fed.url("victim.test", "/#group"), "@type": "Organization", "name": "Pwned"}]}
    outcome = hostile(fed, store, doc)
    assert outcome.code == "named_graph_forbidden"
    assert victim_unchanged(store, graph, before)


def test_c10_nquads_injection_in_id_adds_nothing(fed, world):
    store, graph, before = world
    doc = evil(fed)
    doc["linkedTo"] = {"@id": f'http://a> <http://x> "o" <{graph}> .\n<http://b'}
    hostile(fed, store, doc)
    assert victim_unchanged(store, graph, before)
    assert not any(q.object.value == "o" for q in store.oxigraph.quads_for_pattern(None, None, None, None))


@pytest.mark.parametrize("body", [b"[]", b'"str"', b"null", b"1e999", b'{"name": NaN}', b"\xff\xfe{"])
def test_c12_non_objects_and_bad_json(fed, world, body):
    store, graph, before = world
    outcome = hostile(fed, store, body)
    assert outcome.result == "failed" and outcome.code in ("invalid_document", "bad_encoding", "no_group")
    assert victim_unchanged(store, graph, before)


def test_c13_unicode_tricks_stored_as_is(fed, world):
    store, graph, before = world
    name = "Evil \u202egnirts\u200b\u0000 group"
    outcome = hostile(fed, store, evil(fed, name=name))
    assert outcome.result == "new"
    got = {r["n"].value for r in store.query(f"SELECT ?n {{ <{fed.url('evil.test', '/#group')}> <{SCHEMA}name> ?n }}")}
    assert got == {name}


def test_b7_wrong_content_type_is_refused(fed, world):
    store, graph, before = world
    outcome = hostile(fed, store, json.dumps(evil(fed)), content_type="application/octet-stream")
    assert outcome.code == "bad_content_type"


# ---------------------------------------------------------------------- D: ownership
def test_d1_foreign_subjects_are_dropped_and_counted(fed, world):
    store, graph, before = world
    doc = {"@context": CONTEXT, "@graph": [
        evil(fed),
        {"@id": fed.url("victim.test", "/#group"), "name": "Victim (now run by Evil)", "email": "pwned@evil.test"},
    ]}
    outcome = hostile(fed, store, doc)
    assert outcome.result == "new" and outcome.dropped_foreign == 2
    assert victim_unchanged(store, graph, before)
    assert store.source(fed.url("evil.test", "/")).dropped_foreign == 2
    ask = f'ASK {{ <{fed.url("victim.test", "/#group")}> <{SCHEMA}email> "pwned@evil.test" }}'
    assert not bool(store.query(ask))


def test_d2_profile_of_a_foreign_group_is_refused(fed, world):
    store, graph, before = world
    doc = evil(fed)
    doc["@id"] = fed.url("victim.test", "/#group")
    outcome = hostile(fed, store, doc)
    assert outcome.code == "id_mismatch"
    assert fed.url("evil.test", "/") not in store.named_graphs()
    assert victim_unchanged(store, graph, before)


def test_d3_redirect_to_victim_gives_evil_nothing(fed, world):
    store, graph, before = world
    fed.put("evil.test", "/p", "", content_type="text/plain", status=302,
            headers={"Location": fed.url("victim.test", "/")})
    summary = run(fed, store, [fed.url("evil.test", "/p")])
    # the redirecting address gets no record and no graph; the victim stays its own source
    [outcome] = [o for o in summary.outcomes if o.url == fed.url("evil.test", "/p")]
    assert (outcome.result, outcome.code) == ("skipped", "redirected") and summary.counts["failed"] == 0
    assert store.source(fed.url("evil.test", "/p")) is None
    assert victim_unchanged(store, graph, before)
    assert fed.url("evil.test", "/p") not in store.named_graphs()


def test_d4_https_identity_not_claimable_over_http():
    assert not speaks_for("http://group.test/profile.jsonld", "https://group.test/#group")
    assert speaks_for("https://group.test/profile.jsonld", "http://group.test/#group")
    assert speaks_for("https://group.test/profile.jsonld", "https://group.test/#group")
    assert not speaks_for("https://group.test/p", "https://group.test.evil/#group")
    assert not speaks_for("https://group.test/p", "https://group.test:8443/#group")
    assert not speaks_for("https://group.test/p", "urn:x:1")


def test_d5_same_as_stays_in_the_claimants_graph(fed, world):
    store, graph, before = world
    doc = evil(fed, sameAs=fed.url("victim.test", "/#group"))
    hostile(fed, store, doc)
    rows = list(store.query(f"SELECT ?g {{ GRAPH ?g {{ ?s <{SCHEMA}sameAs> <{fed.url('victim.test', '/#group')}> }} }}"))
    assert [r["g"].value for r in rows] == [fed.url("evil.test", "/")]
    assert victim_unchanged(store, graph, before)


def test_d6_provenance_fields(fed, world):
    store, graph, before = world
    rec = store.source(graph)
    assert rec.status == OK and rec.graph == graph
    assert rec.etag and rec.content_hash == before and rec.generated_at and rec.crawler_version
    assert rec.found_via == "seed"

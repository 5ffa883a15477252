"""The store's own guard (issue 12, finding 1): a source owns only a graph on its own site, and no
write of one record drops or re-attributes a graph another live record owns, whatever the crawler
above it does (defence in depth, and stores written by the older crawler)."""

from __future__ import annotations

import pyoxigraph as ox
import pytest

from hubnet.vocab.authority import owns_graph
from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import FAILED, GONE, MISSING, OK, PROV, PROV_GRAPH, STALE, SourceRecord, Store, now
from hubnet.vocab.errors import StoreError

VICTIM = "https://victim.test/"
EVIL = "https://evil.test/p"
NAME = ox.NamedNode("http://schema.org/name")


def triples(base, name):
    return [ox.Quad(ox.NamedNode(base + "#group"), NAME, ox.Literal(name))]


def rec(url, graph, status=OK, data=()):
    return SourceRecord(url=url, graph=graph, status=status, content_hash=content_hash(data), triples=len(data),
                        first_seen=now(), last_success=now())


def derived_from(store, graph) -> set:
    return {q.object.value for q in store.oxigraph.quads_for_pattern(
        ox.NamedNode(graph), ox.NamedNode(PROV + "wasDerivedFrom"), None, PROV_GRAPH)}


@pytest.fixture
def victim_store(backend_store):
    store = backend_store
    data = triples(VICTIM, "Victim")
    store.replace_source(rec(VICTIM, VICTIM, data=data), data)
    # the older crawler's takeover record: evil's key, the victim's graph, the graph re-attributed to evil
    store.update_record(rec(EVIL, VICTIM, data=data))
    d = f"<{PROV}wasDerivedFrom>"
    store.oxigraph.update(f"DELETE DATA {{ GRAPH <{PROV_GRAPH.value}> {{ <{VICTIM}> {d} <{VICTIM}> }} }} ;"
                          f"INSERT DATA {{ GRAPH <{PROV_GRAPH.value}> {{ <{VICTIM}> {d} <{EVIL}> }} }}")
    return store, content_hash(store.graph_triples(VICTIM))


EVIL_WRITES = {
    "410 (remove)": lambda s: s.remove_source(rec(EVIL, VICTIM, status=GONE)),
    "own profile (replace, previous graph the victim's)":
        lambda s: s.replace_source(rec(EVIL, EVIL, data=triples(EVIL, "Evil")), triples(EVIL, "Evil"),
                                   previous_graph=VICTIM),
    "404 (missing)": lambda s: s.update_record(rec(EVIL, VICTIM, status=MISSING)),
    "500 (stale)": lambda s: s.update_record(rec(EVIL, VICTIM, status=STALE)),
    "released (failed, no graph)": lambda s: s.update_record(rec(EVIL, None, status=FAILED)),
    "forgotten": lambda s: s.forget_source(rec(EVIL, None, status=FAILED)),
}


@pytest.mark.parametrize("write", sorted(EVIL_WRITES))
def test_no_write_of_another_record_drops_or_re_attributes_a_live_graph(victim_store, write):
    store, before = victim_store
    EVIL_WRITES[write](store)
    assert content_hash(store.graph_triples(VICTIM)) == before and store.graph_triples(VICTIM)
    assert store.source(VICTIM).status == OK
    assert derived_from(store, VICTIM) == {VICTIM}       # attributed to its live owner only


def test_a_graph_with_no_other_live_owner_is_dropped(backend_store):
    store = backend_store
    data = triples(VICTIM, "Victim")
    store.replace_source(rec(VICTIM, VICTIM, data=data), data)
    store.update_record(rec(VICTIM + "alias", VICTIM, status=GONE))   # a tombstone owns nothing
    store.remove_source(rec(VICTIM, VICTIM, status=GONE))
    assert store.graph_triples(VICTIM) == [] and derived_from(store, VICTIM) == set()


@pytest.mark.parametrize("source, graph, allowed", [
    ("https://a.test/p", "https://a.test/q", True),          # same-site redirect
    ("http://a.test/p", "https://a.test/p", True),           # moved to https
    ("https://a.test/p", "http://a.test/p", False),          # downgrade
    ("https://a.test/p", "https://b.test/p", False),         # another site
    ("https://a.test/p", "https://www.a.test/p", False),     # another host name
    ("https://a.test/p", "https://a.test:8443/p", False),    # another port
    ("https://a.test/p", "https://a.test@b.test/p", False),  # userinfo hides the host
])
def test_replace_source_refuses_a_graph_off_the_sources_site(tmp_path, source, graph, allowed):
    assert owns_graph(source, graph) is allowed
    store = Store(None)
    data = triples(graph, "G")
    if allowed:
        store.replace_source(rec(source, graph, data=data), data)
        assert store.graph_triples(graph)
    else:
        with pytest.raises(StoreError) as err:
            store.replace_source(rec(source, graph, data=data), data)
        assert err.value.code == "cross_origin_graph" and store.named_graphs() == []

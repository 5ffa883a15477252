"""Only a source the store has never held goes through the bulk loader, whose failed batch is undone by
removing everything about its sources. A URL that is already another source's live graph (that
source redirected there) has statements about it in the provenance graph though it has no record:
a failed write of it as a new source must leave the other source's attribution whole."""

from __future__ import annotations

import gc

import pyoxigraph as ox
import pytest

from hubnet.crawler.store.graph import _DERIVED, OK, PROV_GRAPH, SourceRecord, Store, now
from hubnet.vocab.errors import StoreError

FIRST, MOVED_TO, AGAIN = "https://x.test/a", "https://x.test/b", "https://x.test/c"


def record(url: str, graph: str) -> SourceRecord:
    stamp = now()
    return SourceRecord(url=url, graph=graph, status=OK, first_seen=stamp, generated_at=stamp, last_success=stamp,
                        triples=1)


def statements(graph: str) -> list:
    return [ox.Quad(ox.NamedNode(graph + "#group"), ox.NamedNode("http://schema.org/name"), ox.Literal(graph))]


def attribution(store: Store) -> set:
    return {(q.subject.value, q.object.value)
            for q in store.oxigraph.quads_for_pattern(None, _DERIVED, None, PROV_GRAPH)}


def test_a_failed_write_of_a_url_that_is_another_sources_graph_keeps_that_sources_attribution(tmp_path):
    store = Store(tmp_path / "store")
    store.replace_source(record(FIRST, MOVED_TO), statements(MOVED_TO))   # a redirected to b
    before = attribution(store)
    assert before == {(MOVED_TO, FIRST)}
    # b itself, fetched now, redirects to c: a new record, a new graph
    store.on_write = lambda steps: steps[:2] + ["DROP GRAPH <urn:hubnet:failpoint>"] + steps[2:]
    with pytest.raises(StoreError):
        store.stage_new_source(record(MOVED_TO, AGAIN), statements(AGAIN), batch=1)
    store.on_write = None
    assert attribution(store) == before
    assert store.source(FIRST).graph == MOVED_TO and store.source(MOVED_TO) is None
    store.close()


# ------------------------------------------------------------------ the names held, kept in memory
# A store keeps the names it holds anything under once ``sources`` has read them all (a crawl starts
# there) or when it opens empty, and tells a new source from a held one without a look-up. Every way
# a name becomes held after that must count, also a write through the raw ``oxigraph`` handle.
NAME = ox.NamedNode("http://schema.org/name")
NEW = "https://n.test/profile"


def graph_quad(graph: str) -> ox.Quad:
    return ox.Quad(ox.NamedNode("urn:x"), NAME, ox.Literal("x"), ox.NamedNode(graph))


BECOMES_HELD = {
    "its record (never read)": lambda s: s.update_record(SourceRecord(url=NEW, status="failed", failed_attempts=1)),
    "its graph, claimed by another record": lambda s: s.update_record(SourceRecord(url=NEW + "?old", graph=NEW,
                                                                                   status=OK)),
    "its graph, another source's redirect": lambda s: s.replace_source(record(NEW + "?a", NEW), statements(NEW)),
    "its graph's name, a redirected source's own URL": lambda s: s.replace_source(record("https://n.test/x", NEW),
                                                                                  statements(NEW)),
    "bulk-written before": lambda s: (s.stage_new_source(record(NEW, NEW), statements(NEW), batch=1)),
    "its graph, the hub's own": lambda s: s.write_own_graph([], [graph_quad(NEW)]),
    "its graph, raw add": lambda s: s.oxigraph.add(graph_quad(NEW)),
    "its graph, raw extend": lambda s: s.oxigraph.extend([graph_quad(NEW)]),
    "its graph, raw bulk_extend": lambda s: s.oxigraph.bulk_extend([graph_quad(NEW)]),
    "its graph, raw SPARQL update": lambda s: s.oxigraph.update(f"INSERT DATA {{ GRAPH <{NEW}> {{ <urn:x> <urn:p> 1 }} }}"),
    "its graph, raw load": lambda s: s.oxigraph.load(b"<urn:x> <urn:p> <urn:o> .", format=ox.RdfFormat.N_TRIPLES,
                                                     to_graph=ox.NamedNode(NEW)),
    "its graph, raw add_graph": lambda s: s.oxigraph.add_graph(ox.NamedNode(NEW)),
}
HOW = {   # how the store tells: the names it keeps (read by sources(), or the empty store's), or a look-up each
    "kept, read by sources": lambda s: s.sources(),
    "kept, empty at open": lambda s: None,
    "looked up": lambda s: s._forget_held(),
}


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("becomes", BECOMES_HELD)
def test_a_source_held_in_any_way_after_the_names_were_read_is_not_bulk_written(tmp_path, becomes, how):
    store = Store(tmp_path / "store")
    if how != "kept, empty at open":
        store.replace_source(record(FIRST, FIRST), statements(FIRST))
    HOW[how](store)
    assert (store._held is not None) == how.startswith("kept")
    BECOMES_HELD[becomes](store)
    assert store.stage_new_source(record(NEW, NEW), statements(NEW), batch=100) is False
    store.close()


class _CountingLookups:
    """The pyoxigraph store, counting the point look-ups ``_never_held`` makes."""

    def __init__(self, inner):
        self.inner, self.lookups = inner, 0

    def __getattr__(self, name):
        if name in ("contains_named_graph", "quads_for_pattern"):
            self.lookups += 1
        return getattr(self.inner, name)


def test_a_crawl_tells_new_sources_without_a_lookup_each_once_it_read_the_sources(tmp_path):
    store = Store(tmp_path / "store")
    for i in range(3):
        store.replace_source(record(f"https://h{i}.test/", f"https://h{i}.test/"), statements(f"https://h{i}.test/"))
    store.close()
    store = Store(tmp_path / "store")   # not empty: looked up until sources() reads the names
    store._store = counting = _CountingLookups(store._store)
    assert store.stage_new_source(record(NEW, NEW), statements(NEW), batch=100) is True   # reads the block list
    counting.lookups = 0
    assert store.stage_new_source(record(NEW + "/2", NEW + "/2"), statements(NEW + "/2"), batch=100) is True
    assert counting.lookups == 3
    store.sources()
    counting.lookups = 0
    for i in range(50):
        assert store.stage_new_source(record(f"{NEW}{i}", f"{NEW}{i}"), statements(f"{NEW}{i}"), batch=100) is True
    assert counting.lookups == 0
    store._store = counting.inner
    store.close()


def test_a_write_while_sources_reads_the_names_is_kept(tmp_path):
    """A source written after ``sources`` has read the provenance graph, before it keeps the names
    (another thread's write between the two): held all the same."""
    store = Store(tmp_path / "store")
    store.replace_source(record(FIRST, FIRST), statements(FIRST))
    real = store._store

    class WritesMeanwhile(_CountingLookups):
        def named_graphs(self):   # sources() asks for these after reading the records
            store._store = real
            store.replace_source(record(NEW, NEW), statements(NEW))
            return real.named_graphs()

    store._store = WritesMeanwhile(real)
    assert set(store.sources()) == {FIRST}
    assert store._held is not None and NEW in store._held
    assert store.stage_new_source(record(NEW, NEW), statements(NEW), batch=100) is False
    store.close()


def test_a_store_dropped_after_handing_out_its_raw_handle_lets_go_of_the_database(tmp_path):
    """The raw handle is kept by the store without a reference cycle: the database closes (and its
    lock goes) when the last reference to the store goes, not at some later garbage collection."""
    gc.disable()
    try:
        store = Store(tmp_path / "store")
        store.oxigraph.add_graph(ox.NamedNode(NEW))
        del store
        Store(tmp_path / "store").close()
    finally:
        gc.enable()

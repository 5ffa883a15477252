"""New sources go through the bulk path in batches (issue 18), on either store; what a reader and a change see.

The crash behaviour of a batch (every step failing or killed) is in test_store_failpoints.py.
"""

from __future__ import annotations

import json

import pyoxigraph as ox
import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import BULK_NOTE, FAILED, OK, PROV_GRAPH, SourceRecord, Store, _record_triples, now
from hubnet.vocab.errors import StoreError

NAME = ox.NamedNode("http://schema.org/name")


def url(i: int) -> str:
    return f"https://g{i}.test/profile.jsonld"


def data(i: int, version: str = "v1") -> list:
    g = ox.NamedNode(url(i) + "#group")
    return [ox.Quad(g, NAME, ox.Literal(f"Group {i} {version}"))]


def rec(i: int, version: str = "v1", **kw) -> SourceRecord:
    stamp = now()
    base = dict(url=url(i), graph=url(i), status=OK, first_seen=stamp, generated_at=stamp, last_success=stamp,
                content_hash=content_hash(data(i, version)), triples=1)
    return SourceRecord(**{**base, **kw})


def holds(store: Store, i: int, version: str = "v1") -> bool:
    r = store.source(url(i))
    return r is not None and content_hash(store.graph_triples(url(i))) == r.content_hash == content_hash(data(i, version))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store")
    yield s
    s.close()


def test_a_batch_is_written_when_full_and_not_before(backend_store):
    """On either store (on a SPARQL server the batch is one update request, test_store_remote.py)."""
    store = backend_store
    for i in range(3):
        assert store.stage_new_source(rec(i), data(i), batch=4) is True
    assert not any(True for _ in store._store.quads_for_pattern(None, None, None, None))
    store.stage_new_source(rec(3), data(3), batch=4)
    assert all(holds(store, i) for i in range(4))


# every way a reader can look: each writes the waiting batch first
READERS = {
    "source": lambda s: s.source(url(0)),
    "sources": lambda s: s.sources(),
    "graph_triples": lambda s: s.graph_triples(url(0)),
    "query": lambda s: list(s.query("SELECT * { ?s ?p ?o }")),
    "named_graphs": lambda s: s.named_graphs(),
    "oxigraph": lambda s: s.oxigraph,
    "flush": lambda s: s.flush(),
}


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_sees_the_staged_sources(backend_store, reader):
    store = backend_store
    store.stage_new_source(rec(0), data(0), batch=100)
    READERS[reader](store)
    assert not store._staged and holds(store, 0)


# every change that involves a staged source: the staged version is written first, then the change
CHANGES = {
    "replace": lambda s: s.replace_source(rec(0, "v2"), data(0, "v2")),
    "update_record": lambda s: s.update_record(rec(0, status="stale", error_code="timeout")),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_to_a_staged_source_comes_after_it(backend_store, change):
    store = backend_store
    store.stage_new_source(rec(0), data(0), batch=100)
    CHANGES[change](store)
    r = store.source(url(0))
    assert r.content_hash == content_hash(store.graph_triples(url(0)))
    assert len(store.graph_triples(url(0))) == 1


# every way a source can already be known to the store: then it is written in one transaction at once
HELD = {
    "its record (never read)": lambda s: s.update_record(SourceRecord(url=url(0), status=FAILED, failed_attempts=1)),
    "its graph, loaded": lambda s: s.oxigraph.extend([ox.Quad(ox.NamedNode("urn:x"), NAME, ox.Literal("x"),
                                                              ox.NamedNode(url(0)))]),
    "its graph, claimed by another record": lambda s: s.update_record(
        SourceRecord(url=url(0) + "?old", graph=url(0), status=OK)),
    "staged already": lambda s: s.stage_new_source(rec(0), data(0), batch=100),
}


@pytest.mark.parametrize("held", HELD)
def test_a_source_the_store_holds_is_not_bulk_written(backend_store, held):
    """Written as a change (its record and graph replaced, nothing of before left): at once on the
    embedded store; on a SPARQL server once its batch's one query finds it held."""
    store = backend_store
    HELD[held](store)
    staged = store.stage_new_source(rec(0, "v2"), data(0, "v2"), batch=100)
    assert staged is False or getattr(store, "remote", False)   # a server is asked per batch
    store.flush()
    assert not store._staged and holds(store, 0, "v2")
    r = store.source(url(0))
    assert (r.status, r.failed_attempts, len(store.graph_triples(url(0)))) == (OK, 0, 1)


def test_the_open_undoes_every_source_of_an_uncommitted_batch_and_nothing_else(tmp_path):
    """Whatever part of the batch got written (graphs, records, some of them), all of it goes;
    a source committed before, and one of another batch, stay."""
    store = Store(tmp_path / "store")
    store.stage_new_source(rec(0), data(0), batch=1)            # committed
    store.replace_source(rec(9), data(9))                        # a transaction of its own
    for i in (1, 2):   # the batch got this far: both graphs, the record of one
        store.oxigraph.bulk_extend([ox.Quad(q.subject, q.predicate, q.object, ox.NamedNode(url(i))) for q in data(i)])
    store.oxigraph.bulk_extend([ox.Quad(s, p, o, PROV_GRAPH) for s, p, o in _record_triples(rec(1))])
    store.close()
    (tmp_path / "store" / BULK_NOTE).write_text(json.dumps({"graphs": [url(1), url(2), url(3)],
                                                            "sources": [url(1), url(2), url(3)]}))
    for _ in range(2):   # and an open interrupted after the undo, before the note went, undoes again
        reopened = Store(tmp_path / "store")
        assert holds(reopened, 0) and holds(reopened, 9)
        assert set(reopened.named_graphs()) == {PROV_GRAPH.value, url(0), url(9)}
        assert set(reopened.sources()) == {url(0), url(9)}
        reopened.close()
        if not (tmp_path / "store" / BULK_NOTE).exists():
            (tmp_path / "store" / BULK_NOTE).write_text(json.dumps({"graphs": [url(1)], "sources": [url(1)]}))


@pytest.mark.parametrize("note", ["{not json", '{"a": 1}', "[1, 2]", '{"graphs": [1], "sources": []}'])
def test_a_damaged_note_stops_the_open_with_a_clear_error(tmp_path, note):
    Store(tmp_path / "store").close()
    (tmp_path / "store" / BULK_NOTE).write_text(note)
    with pytest.raises(StoreError) as info:
        Store(tmp_path / "store")
    assert info.value.code == "store_error" and "bulk-pending.json is damaged" in info.value.message


def test_a_batch_that_cannot_be_undone_stops_every_write_until_the_store_is_reopened(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    store.on_write = lambda steps: steps[:2] + ["DROP GRAPH <urn:hubnet:failpoint>"] + steps[2:]

    def undo_fails(self, note):
        raise OSError("injected: the disk is gone")

    monkeypatch.setattr(Store, "_roll_back", undo_fails)
    with pytest.raises(StoreError):
        store.stage_new_source(rec(0), data(0), batch=1)
    for write in (lambda: store.replace_source(rec(5), data(5)), lambda: store.stage_new_source(rec(6), data(6), batch=1)):
        with pytest.raises(StoreError) as info:
            write()
        assert "reopen the store" in info.value.message
    store.on_write = None
    monkeypatch.undo()
    store.close()
    reopened = Store(tmp_path / "store")
    assert reopened.sources() == {} and set(reopened.named_graphs()) <= {PROV_GRAPH.value}
    reopened.close()


def test_a_batch_is_written_once_its_statements_reach_the_bound_however_few_its_sources(backend_store, monkeypatch):
    """What waits for the loader in memory is bounded in statements too (``BULK_BATCH_STATEMENTS``):
    a hostile seed's sources, each with ``max_triples`` statements, do not fill ``bulk_batch`` of them."""
    store = backend_store
    monkeypatch.setattr(type(store), "BULK_BATCH_STATEMENTS", 3)
    many = lambda i: data(i) + [ox.Quad(q.subject, NAME, ox.Literal(f"also {i}")) for q in data(i)]   # 2 each
    store.stage_new_source(rec(0), many(0), batch=100)
    assert not any(True for _ in store._store.quads_for_pattern(None, None, None, None))
    store.stage_new_source(rec(1), many(1), batch=100)   # 4 statements staged: written
    assert not store._staged and len(store.graph_triples(url(0))) == len(store.graph_triples(url(1))) == 2

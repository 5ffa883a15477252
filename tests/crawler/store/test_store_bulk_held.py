"""Only a source the store has never held goes through the bulk loader, whose failed batch is undone by
removing everything about its sources. A URL that is already another source's live graph (that
source redirected there) has statements about it in the provenance graph though it has no record:
a failed write of it as a new source must leave the other source's attribution whole."""

from __future__ import annotations

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

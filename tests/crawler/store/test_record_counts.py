"""A provenance record leaves out its counts that are 0 (issue 18: each statement costs the store
six index entries, ~360 bytes on disk), and every door still answers them: ``Store.source``,
``/api/sources/<key>``, ``/sources.json`` give 0, the dump holds only the counts that are not 0,
and a count that falls back to 0 loses its old statement. Every count, both write paths."""

from __future__ import annotations

import re

import pyoxigraph as ox
import pytest

from hubnet.crawler.store.graph import _INT_FIELDS, OK, SourceRecord, Store, _camel, now
from hubnet.crawler.store.index import group_key
from hubnet.testing import Federation

from server_helpers import make_app

COUNTS = sorted(_INT_FIELDS)
WRITES = {"bulk": lambda store, rec, triples: store.stage_new_source(rec, triples, batch=100),
          "transaction": lambda store, rec, triples: store.replace_source(rec, triples)}


def group(source: str) -> list:
    """The one statement of a source's graph."""
    return [ox.Quad(ox.NamedNode(source + "#group"), ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                    ox.NamedNode("http://schema.org/Organization"))]


def url(path: str, field: str, value: int) -> str:
    return f"https://{path}-{field.replace('_', '-')}-{value}.example/"


def record(path: str, field: str, value: int) -> SourceRecord:
    stamp = now()
    return SourceRecord(url=url(path, field, value), graph=url(path, field, value), status=OK, first_seen=stamp,
                        generated_at=stamp, last_success=stamp, content_hash="0" * 64, **{field: value})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Every count at 0 and at 3, written by each path, then served."""
    path = tmp_path_factory.mktemp("counts") / "store"
    store = Store(path)
    for way, write in WRITES.items():
        for field in COUNTS:
            for value in (0, 3):
                rec = record(way, field, value)
                write(store, rec, group(rec.url))
    store.close()
    fed = Federation()
    app = make_app(fed, path)
    yield app.test_client()
    app.extensions["hubnet"].close()
    fed.close()


@pytest.mark.parametrize("way", WRITES)
@pytest.mark.parametrize("field", COUNTS)
@pytest.mark.parametrize("value", [0, 3])
def test_each_count_answers_on_every_door_and_only_a_count_not_zero_is_stored(served, way, field, value):
    source = url(way, field, value)
    answer = served.get(f"/api/sources/{group_key(source)}")
    assert answer.status_code == 200 and answer.get_json()[field] == value
    listed = {s["url"]: s for s in served.get("/sources.json?limit=10000").get_json()["sources"]}
    assert listed[source][field] == value
    stored = re.findall(rf'^<{re.escape(source)}> <https://w3id.org/hubnet/ns#{_camel(field)}> "(\d+)"',
                        served.get("/dump.nq").get_data(as_text=True), re.M)
    assert stored == ([] if value == 0 else [str(value)])


@pytest.mark.parametrize("field", COUNTS)
def test_a_count_falling_back_to_zero_loses_its_statement(tmp_path, field):
    store = Store(tmp_path / "store")
    rec = record("fall", field, 3)
    store.replace_source(rec, group(rec.url))
    setattr(rec, field, 0)
    store.update_record(rec)
    pred = f"<https://w3id.org/hubnet/ns#{_camel(field)}>"
    assert getattr(store.source(rec.url), field) == 0
    assert not [q for q in store.oxigraph.quads_for_pattern(None, None, None, None) if str(q.predicate) == pred]
    store.close()

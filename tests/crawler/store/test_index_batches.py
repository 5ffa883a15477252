"""The text index is synced in batches (issue 18): whatever the batch size it holds the same rows,
each extraction names at most a batch of graphs (memory follows the batch, not the store), and a
sync that stops between batches leaves an index that says it is incomplete and that the next
sync completes without redoing what was committed."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from hubnet.crawler.budget import Budget
from hubnet.crawler.store.graph import load_file
from hubnet.crawler.store.index import INDEX_FILE, SCHEMA_VERSION, Search, TextIndex
from server_helpers import CRAWLED_GROUPS, build_sites, crawl, index_snapshot as snapshot

COUNCIL_GROUPS = 2   # one the council describes and the fixture's own site describes too, one only the council


@pytest.fixture
def varied_store(fed, store, tmp_path):
    """The fixture network, one group described by two sources, and one source withdrawn (a tombstone)."""
    crawl(fed, store, build_sites(fed))
    council = tmp_path / "council.ttl"
    council.write_text(f'<{fed.group_iri("alpha.test")}> a <http://schema.org/Organization> ; '
                       '<http://schema.org/name> "Marsh Gate RA (council list)" .\n'
                       '<urn:council:7> a <http://schema.org/Organization> ; <http://schema.org/name> "Council Group" .\n')
    load_file(store, council, "https://council.example.gov.uk/groups")
    fed.put("beta.test", "/", b"gone", content_type="text/plain", status=410)
    crawl(fed, store, [])
    return store


def counted_extractions(store, monkeypatch) -> list:
    """The number of graphs each extraction query names (wraps the real store's query)."""
    named, query = [], store.query

    def counting(sparql, **kw):
        if "named_graphs" in kw:
            named.append(len(kw["named_graphs"]))
        return query(sparql, **kw)

    monkeypatch.setattr(store, "query", counting)
    return named


@pytest.mark.parametrize("batch", [1, 2, 3, 500])
def test_every_batch_size_builds_the_same_index(varied_store, tmp_path, monkeypatch, batch):
    reference = TextIndex(None, batch=500)
    try:
        reference.sync(varied_store)
        expected = snapshot(reference)
    finally:
        reference.close()
    sources = CRAWLED_GROUPS - 1 + 1   # beta withdrawn, the council's file added
    assert len(expected["sources"]) == sources and len(expected["tombstones"]) == 1
    assert sum(1 for g in expected["groups"] if g[-1] == 1) == 1      # the group described twice: one duplicate
    named = counted_extractions(varied_store, monkeypatch)
    index = TextIndex(tmp_path / f"index-{batch}.sqlite", batch=batch)
    try:
        stats = index.sync(varied_store)
        assert stats["changed"] == sources
        assert snapshot(index) == expected
        assert named == [min(batch, sources - i) for i in range(0, sources, batch)]   # never more than a batch
        assert index.status() == {"state": "ready", "complete": True}
    finally:
        index.close()


def budget_of_batches(n: int) -> Budget:
    """A budget that lets ``n`` batches start and stops the next (a clock that jumps): by count, not time."""
    reads = iter(range(10**9))
    return Budget(10, "the test's sync", clock=lambda: 0 if next(reads) <= n else 10**6)


def test_a_sync_stopped_between_batches_is_completed_by_the_next(varied_store, tmp_path):
    sources = CRAWLED_GROUPS
    reference = TextIndex(None)
    reference.sync(varied_store)
    expected = snapshot(reference)
    reference.close()
    path = tmp_path / INDEX_FILE
    index = TextIndex(path, batch=2)
    try:
        assert index.status() == {"state": "building", "complete": False, "sources": None, "sources_indexed": 0}
        stats = index.sync(varied_store, budget=budget_of_batches(2))
        assert stats.get("unfinished")
        assert index.status() == {"state": "building", "complete": False, "sources": None, "sources_indexed": 4}
    finally:
        index.close()
    index = TextIndex(path, batch=2)             # as after a restart: the committed batches stay
    try:
        assert index.status()["sources_indexed"] == 4
        writes = index.writes
        index.sync(varied_store)
        assert index.writes - writes == sources - 4   # only what was missing
        assert snapshot(index) == expected
        assert index.status() == {"state": "ready", "complete": True}
    finally:
        index.close()


def test_searches_see_each_committed_batch(varied_store, tmp_path):
    """A search made while a sync runs (another thread, as a request is) counts what is committed so
    far: the cached counts follow each batch, not only each sync."""
    path = tmp_path / INDEX_FILE
    index = TextIndex(path, batch=1)
    seen = []   # (what the search counted, what the file holds), before each batch commits
    original = index._mark_duplicates

    def search_from_another_thread():
        total = index.search(Search(located=True))["total"]
        with sqlite3.connect(path) as conn:
            held = conn.execute("SELECT COUNT(*) FROM groups WHERE dup = 0 AND lat IS NOT NULL").fetchone()[0]
        seen.append((total, held))

    def after_each_batch(conn, iris):
        original(conn, iris)
        reader = threading.Thread(target=search_from_another_thread)
        reader.start()
        reader.join()

    index._mark_duplicates = after_each_batch
    try:
        index.sync(varied_store)
        assert len(seen) > CRAWLED_GROUPS and all(total == held for total, held in seen)
        assert seen[0] == (0, 0) and len({held for _, held in seen}) > 2   # counted afresh as batches landed
    finally:
        index.close()


def old_layout(path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT); INSERT INTO meta VALUES ('schema', '1');"
                       "CREATE TABLE groups (id INTEGER PRIMARY KEY, iri TEXT); CREATE TABLE sources (graph TEXT);")
    conn.close()


def current_layout_of_before(path) -> None:
    """An index written by the version before ``complete`` was kept: in step, so complete."""
    index = TextIndex(path)
    index._conn().execute("DELETE FROM meta WHERE k = 'complete'")
    index._conn().commit()
    index.close()


# how an index file can be found at start -> whether it holds every source
FOUND = {
    "no file": (lambda path: None, False),
    "another layout": (old_layout, False),
    "not an SQLite file": (lambda path: path.write_bytes(b"not a database\n" * 100), False),
    "an SQLite file of something else": (lambda path: sqlite3.connect(path).execute("CREATE TABLE t (x)"), False),
    "this layout, from before 'complete'": (current_layout_of_before, True),
}


@pytest.mark.parametrize("found", FOUND)
def test_only_an_index_created_empty_says_it_is_being_built(tmp_path, found):
    make, complete = FOUND[found]
    path = tmp_path / INDEX_FILE
    make(path)
    index = TextIndex(path)
    try:
        assert index.status()["complete"] is complete
        assert index.meta("schema") == SCHEMA_VERSION
        tables = {r[0] for r in index._conn().execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"groups", "groups_fts", "facets", "sources", "tombstones", "moves", "areas"} <= tables
    finally:
        index.close()

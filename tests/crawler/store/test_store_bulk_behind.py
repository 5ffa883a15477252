"""A full bulk batch loaded behind its writer (``stage_new_source(behind=True)``, a crawl; issue 18):
the writer goes on at once, and every reader, every change to one of its sources and the next batch
wait for it; a batch that fails there is undone and reported once, through ``take_failed_batches``.

Each batch is held in flight by a gate on its load step, so what waits and what does not is seen,
not guessed from timing. The crash behaviour of a batch is in test_store_failpoints.py and
tests/integration/test_crawl_crash.py (the crawl loads behind)."""

from __future__ import annotations

import threading

import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import BULK_NOTE, PROV_GRAPH, Store
from hubnet.vocab.errors import StoreError
from test_store_bulk import CHANGES, READERS, data, holds, rec, url

WAIT = 0.3   # how long a caller that must wait is watched to be still waiting


class Gate:
    """Holds the load step of every batch until opened; ``loading`` is set once one is held."""

    def __init__(self, store: Store):
        self.open, self.loading = threading.Event(), threading.Event()
        run_step = store._run_step

        def gated(step):
            if isinstance(step, tuple) and step[0] == "quads":
                self.loading.set()
                assert self.open.wait(30), "the gate was never opened"
            run_step(step)

        store._run_step = gated


def in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def waits(t: threading.Thread) -> bool:
    t.join(WAIT)
    return t.is_alive()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store")
    yield s
    s.close()


def load_two_behind(store: Store) -> Gate:
    """Stage sources 0 and 1 as one full batch loaded behind, held in flight by a closed gate."""
    gate = Gate(store)
    for i in (0, 1):
        assert store.stage_new_source(rec(i), data(i), batch=2, behind=True) is True
    assert gate.loading.wait(10)   # the load began on its own thread, and the writer got its answer
    return gate


def test_the_writer_goes_on_while_its_batch_loads_with_the_note_on_disk(store):
    gate = load_two_behind(store)
    assert (store.path / BULK_NOTE).exists()   # a crash now undoes the batch at the next open
    assert not list(store._store.quads_for_pattern(None, None, None, None))
    # The next new source is staged for the next batch; one of the batch in flight is not new.
    assert store.stage_new_source(rec(2), data(2), batch=2, behind=True) is True
    gate.open.set()
    store.flush()
    assert all(holds(store, i) for i in range(3))
    assert not (store.path / BULK_NOTE).exists() and store.take_failed_batches() == []


# every reader, and every change to one of the batch's sources (test_store_bulk.py)
WAITERS = {**{f"{name} (a reader)": f for name, f in READERS.items()},
           **{f"{name} (a change to one of its sources)": f for name, f in CHANGES.items()}}


@pytest.mark.parametrize("waiter", WAITERS)
def test_every_reader_and_every_change_to_its_sources_waits_for_the_batch_loading_behind(store, waiter):
    gate = load_two_behind(store)
    t = in_thread(lambda: WAITERS[waiter](store))
    assert waits(t), f"{waiter} went ahead while the batch was half loaded"
    gate.open.set()
    t.join(10)
    assert not t.is_alive()
    r = store.source(url(0))   # whole: read after the load, or changed after it
    assert r.content_hash == content_hash(store.graph_triples(url(0))) and len(store.graph_triples(url(0))) == 1
    assert holds(store, 1)


@pytest.mark.parametrize("names", ["kept in memory", "looked up"])
def test_a_source_loading_behind_is_not_staged_again_but_written_as_a_change_after_it(tmp_path, names):
    """Whether a source is new is told from the names kept in memory, or by looking it up in a store
    opened non-empty (``_never_held``); a look-up cannot see a batch not loaded yet."""
    store = Store(tmp_path / "store")
    if names == "looked up":
        store.replace_source(rec(9), data(9))
        store.close()
        store = Store(tmp_path / "store")
        assert store._held is None
    gate = load_two_behind(store)
    result = []
    t = in_thread(lambda: result.append(store.stage_new_source(rec(0, "v2"), data(0, "v2"), batch=2, behind=True)))
    assert waits(t)
    gate.open.set()
    t.join(10)
    assert result == [False] and holds(store, 0, "v2") and holds(store, 1)
    store.close()


def test_a_change_to_another_source_does_not_wait(store):
    gate = load_two_behind(store)
    t = in_thread(lambda: store.replace_source(rec(7), data(7)))
    t.join(10)
    assert not t.is_alive(), "a change to a source outside the batch waited for it"
    gate.open.set()
    store.flush()
    assert all(holds(store, i) for i in (0, 1, 7))


def test_the_next_full_batch_waits_for_the_one_loading(store):
    gate = load_two_behind(store)
    store.stage_new_source(rec(2), data(2), batch=2, behind=True)
    t = in_thread(lambda: store.stage_new_source(rec(3), data(3), batch=2, behind=True))
    assert waits(t), "a second batch began while one was loading: two notes, one file"
    gate.open.set()
    t.join(10)
    store.flush()
    assert all(holds(store, i) for i in range(4))


FAILPOINT = "DROP GRAPH <urn:hubnet:failpoint>"   # fails: no such graph


@pytest.mark.parametrize("where", ["before the load", "after the load"])
def test_a_batch_failing_behind_is_undone_and_reported_once(store, where):
    at = 1 if where == "before the load" else 2
    store.on_write = lambda steps: steps[:at] + [FAILPOINT] + steps[at:]
    for i in (0, 1):
        assert store.stage_new_source(rec(i), data(i), batch=2, behind=True) is True   # not raised here
    store.on_write = None
    store.stage_new_source(rec(2), data(2), batch=2, behind=True)
    store.flush()   # nor here: the crawl collects it with take_failed_batches
    failed = store.take_failed_batches()
    assert [(e.code, sorted(r.url for r in e.lost)) for e in failed] == [("store_error", [url(0), url(1)])]
    assert store.take_failed_batches() == []
    assert set(store.sources()) == {url(2)} and set(store.named_graphs()) == {PROV_GRAPH.value, url(2)}
    assert not (store.path / BULK_NOTE).exists()
    store.stage_new_source(rec(0), data(0), batch=2, behind=True)   # and the store takes them again
    store.flush()
    assert holds(store, 0) and holds(store, 2)


def test_a_batch_failing_behind_that_cannot_be_undone_stops_every_write(tmp_path, monkeypatch):
    store = Store(tmp_path / "store")
    store.on_write = lambda steps: steps[:2] + [FAILPOINT] + steps[2:]

    def undo_fails(self, note):
        raise OSError("injected: the disk is gone")

    monkeypatch.setattr(Store, "_roll_back", undo_fails)
    for i in (0, 1):
        store.stage_new_source(rec(i), data(i), batch=2, behind=True)
    store.on_write = None
    store.flush()
    assert [sorted(r.url for r in e.lost) for e in store.take_failed_batches()] == [[url(0), url(1)]]
    for write in (lambda: store.replace_source(rec(5), data(5)),
                  lambda: store.stage_new_source(rec(6), data(6), batch=1, behind=True)):
        with pytest.raises(StoreError) as info:
            write()
        assert "reopen the store" in info.value.message
    monkeypatch.undo()
    store.close()
    reopened = Store(tmp_path / "store")   # the note was left: the open undoes the batch
    assert reopened.sources() == {} and set(reopened.named_graphs()) <= {PROV_GRAPH.value}
    reopened.close()


@pytest.mark.parametrize("step", ["quads", "commit"])
def test_any_error_on_the_loading_thread_fails_its_batch_and_is_reported(store, step):
    """Not only the store's own errors: whatever a step raises there ends as the batch's failure,
    undone if it came before the commit, never an exception on a thread nobody joins for its answer."""
    run_step = store._run_step

    def breaks(s):
        if isinstance(s, tuple) and s[0] == step:
            raise KeyError("injected")
        run_step(s)

    store._run_step = breaks
    for i in (0, 1):
        store.stage_new_source(rec(i), data(i), batch=2, behind=True)
    store.flush()
    store._run_step = run_step
    failed = store.take_failed_batches()
    assert [(e.code, sorted(r.url for r in e.lost)) for e in failed] == [("store_error", [url(0), url(1)])]
    assert store.sources() == {} and not (store.path / BULK_NOTE).exists()

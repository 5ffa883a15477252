"""A write that fails halfway leaves the old graph and the old record, still agreeing (issue 12).

Every kind of write the crawler makes (first write, difference write, move, blank-node rewrite,
record update, removal, forgetting a never-ok source) is made to fail at every point: before its
update is sent (the hook raises, as a full disk would) and between every two operations of its
update (a failing operation injected there through ``Store.on_write``). After each failure the
store holds exactly what it held before, the record's hash is that of its graph, and the store
reopens with the same content. A write split into two transactions fails this table.
"""

from __future__ import annotations

from dataclasses import replace

import pyoxigraph as ox
import pytest

from hubnet.crawler.crawl.extract import content_hash
from hubnet.crawler.store.graph import GONE, OK, STALE, SourceRecord, Store, load_file, now
from hubnet.vocab.errors import StoreError

URL = "https://a.test/profile.jsonld"
MOVED = "https://a.test/new.jsonld"
NEVER = "https://b.test/never.jsonld"
GROUP = ox.NamedNode(URL + "#group")
NAME = ox.NamedNode("http://schema.org/name")
ABOUT = ox.NamedNode("http://schema.org/knowsAbout")
# Fails at execution time (the graph does not exist), after the operations before it ran.
FAIL = "DROP GRAPH <urn:hubnet:failpoint>"


def quads(name, *topics):
    return [ox.Quad(GROUP, NAME, ox.Literal(name))] + [ox.Quad(GROUP, ABOUT, ox.Literal(t)) for t in topics]


def record(data=(), **kw):
    stamp = now()
    base = dict(url=URL, graph=URL, status=OK, first_seen=stamp, generated_at=stamp, last_success=stamp,
                content_hash=content_hash(data), triples=len(data))
    base.update(kw)
    return SourceRecord(**base)


V1 = quads("Alpha", "gardens", "repairs")
V2 = quads("Alpha Residents", "gardens", "lunch")


def _blank_file(tmp_path, name):
    path = tmp_path / f"{name}.ttl"
    path.write_text(f'[] <http://schema.org/name> "{name}" ; <http://schema.org/knowsAbout> [ <http://schema.org/name> "x" ] .\n')
    return path


def _load_aged(store, path):
    """Load ``path``, then date its record a day back: the rewrite then always changes the provenance
    too (a rewrite within the same second would not), so every run has the same failpoints."""
    load_file(store, path, URL)
    store.update_record(replace(store.sources()[URL], first_seen=DAY_BEFORE, generated_at=DAY_BEFORE,
                                last_success=DAY_BEFORE))


DAY_BEFORE = "2026-01-01T00:00:00Z"


# name -> (setup(store, tmp_path), write(store, tmp_path))
WRITES = {
    "first write": (lambda s, t: None, lambda s, t: s.replace_source(record(V1), V1)),
    "difference write": (lambda s, t: s.replace_source(record(V1), V1), lambda s, t: s.replace_source(record(V2), V2)),
    "move (same-site redirect)": (lambda s, t: s.replace_source(record(V1), V1),
                                  lambda s, t: s.replace_source(record(V2, graph=MOVED), V2, previous_graph=URL)),
    "blank-node rewrite": (lambda s, t: _load_aged(s, _blank_file(t, "one")),
                           lambda s, t: load_file(s, _blank_file(t, "two"), URL)),
    "record update (stale)": (lambda s, t: s.replace_source(record(V1), V1),
                              lambda s, t: s.update_record(record(V1, status=STALE, error_code="timeout",
                                                                  error_message="too slow"))),
    "removal (410)": (lambda s, t: s.replace_source(record(V1), V1),
                      lambda s, t: s.remove_source(record(V1, status=GONE, removed_at=now(), triples=0))),
    "forget a never-ok source": (lambda s, t: s.update_record(SourceRecord(url=NEVER, failed_attempts=2)),
                                 lambda s, t: s.forget_source(SourceRecord(url=NEVER, failed_attempts=3))),
}


def snapshot(store) -> set:
    return {str(q) for q in store.oxigraph}


def assert_consistent(store) -> None:
    """Every live record's hash is the hash of its graph; no graph without its record."""
    records = store.sources()
    for rec in records.values():
        if rec.status in (OK, STALE) and rec.content_hash:
            assert content_hash(store.graph_triples(rec.graph)) == rec.content_hash
    owned = {r.graph for r in records.values() if r.status in (OK, STALE)}
    assert set(store.named_graphs()) - {"https://w3id.org/hubnet/graph/provenance"} <= owned


def recorded_calls(tmp_path, name) -> list:
    """The operations of each update the write sends, from a dry run on a store of its own."""
    setup, write = WRITES[name]
    calls = []
    store = Store(tmp_path / "dry")
    setup(store, tmp_path)
    store.on_write = lambda ops: calls.append(list(ops)) or ops
    write(store, tmp_path)
    store.close()
    return calls


def failpoints():
    """(write, call, position) for every point of every write; position None: before the update is sent."""
    import tempfile
    from pathlib import Path

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in WRITES:
            calls = recorded_calls(Path(tmp) / name.replace(" ", "_"), name)
            assert calls, f"{name} sent no update"
            for k, ops in enumerate(calls):
                out += [(name, k, None)] + [(name, k, i) for i in range(len(ops) + 1)]
    return out


@pytest.mark.parametrize("name, call, position", failpoints())
def test_a_write_failing_at_any_point_leaves_the_old_state(tmp_path, name, call, position):
    setup, write = WRITES[name]
    store = Store(tmp_path / "store")
    setup(store, tmp_path)
    before = snapshot(store)
    seen = []

    def fault(ops):
        seen.append(ops)
        if len(seen) - 1 != call:
            return ops
        if position is None:
            raise StoreError("injected: the disk is full", code="store_error")
        return ops[:position] + [FAIL] + ops[position:]

    store.on_write = fault
    with pytest.raises(StoreError):
        write(store, tmp_path)
    assert snapshot(store) == before
    assert_consistent(store)
    store.close()
    reopened = Store(tmp_path / "store")
    assert snapshot(reopened) == before
    assert_consistent(reopened)
    # and the same write, without the fault, then goes through whole
    write(reopened, tmp_path)
    assert snapshot(reopened) != before
    assert_consistent(reopened)
    reopened.close()


def test_a_crawl_whose_writes_fail_keeps_the_old_graph_and_record_and_then_converges(fed, tmp_path):
    """Through the crawler: a changed profile whose write fails is reported, the old version stays
    whole (graph and record agree), and the next crawl writes the new one."""
    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.settings import Settings

    settings = Settings(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map("a.test"))
    url = fed.url("a.test", "/")
    fed.put_profile("a.test", "Alpha", path="/")
    store = Store(tmp_path / "store")
    Crawler(store, settings).crawl([url])
    before = snapshot(store)
    fed.put_profile("a.test", "Alpha Residents", path="/")
    store.on_write = lambda ops: ops[:1] + [FAIL] + ops[1:]
    summary = Crawler(store, settings).crawl()
    [failure] = summary.failures
    assert failure.url == url and failure.code == "internal_error" and "writing to the store failed" in failure.message
    assert snapshot(store) == before
    assert_consistent(store)
    store.on_write = None
    assert Crawler(store, settings).crawl().counts["updated"] == 1
    assert store.source(url).content_hash == content_hash(store.graph_triples(url))
    store.close()


# --------------------------------------------------------------------------- the bulk path (issue 18)
NEW_URLS = [f"https://{h}.test/profile.jsonld" for h in ("n1", "n2", "n3")]


def new_quads(url, name):
    group = ox.NamedNode(url + "#group")
    return [ox.Quad(group, NAME, ox.Literal(name))] + [ox.Quad(group, ABOUT, ox.Literal(f"{name} {i}"))
                                                        for i in range(6)]


def _stage_batch(store, tmp_path):
    for i, url in enumerate(NEW_URLS):
        data = new_quads(url, f"New {i}")
        store.stage_new_source(record(data, url=url, graph=url), data, batch=len(NEW_URLS))


# name -> (setup, write, the URLs the write adds): every write that goes through the bulk loader.
BULK_WRITES = {
    "a bulk batch of new sources beside a held one": (lambda s, t: s.replace_source(record(V1), V1), _stage_batch,
                                                      NEW_URLS),
    "a load of a new graph (blank nodes)": (lambda s, t: None, lambda s, t: load_file(s, _blank_file(t, "one"), URL),
                                            [URL]),
}


class Killed(BaseException):
    """The process dies here: nothing after this point runs, not even the clean-up of a failure."""


def bulk_failpoints():
    """(write, how, position): ``position`` is where the fault goes among the batch's steps;
    "half quads" bulk-writes half of the graphs and records first. ``how``: "fail" (an error the
    store sees, which it undoes at once) or "kill" (nothing after it runs; the next open undoes)."""
    points = [*range(len(STEPS) + 1), "half quads"]
    return [(name, how, p) for name in BULK_WRITES for how in ("fail", "kill") for p in points]


STEPS = ["note", "quads", "commit"]


def _inject(how, position):
    def fault(steps):
        assert [s[0] for s in steps] == STEPS
        if isinstance(position, str):
            k = STEPS.index(position.split()[1])
            quads = steps[k][1]
            at, steps = k + 1, steps[:k] + [(STEPS[k], quads[:len(quads) // 2])] + steps[k + 1:]
        else:
            at = position
        if how == "fail":
            return steps[:at] + [FAIL] + steps[at:]

        def die():
            raise Killed()
        return steps[:at] + [_Die(die)] + steps[at:]
    return fault


class _Die(tuple):
    """A step that kills the writer: a (kind, payload) pair whose kind nothing knows, run as a call."""

    def __new__(cls, fn):
        return super().__new__(cls, ("die", fn))


def _present(store, url) -> bool:
    rec = store.source(url)
    if rec is None:
        return False
    held = store.graph_triples(rec.graph)
    # A loaded file's record has no hash; its count of statements tells a whole graph from half.
    return len(held) == rec.triples > 0 and rec.content_hash in (None, content_hash(held))


@pytest.mark.parametrize("name, how, position", bulk_failpoints())
def test_a_bulk_write_failing_or_killed_at_any_point_leaves_each_source_old_or_new(tmp_path, name, how,
                                                                                  position, monkeypatch):
    setup, write, urls = BULK_WRITES[name]
    store = Store(tmp_path / "store")
    setup(store, tmp_path)
    before = snapshot(store)
    run_step = Store._run_step

    def run(self, step):
        if step[0] == "die":
            step[1]()
        return run_step(self, step)

    monkeypatch.setattr(Store, "_run_step", run)
    store.on_write = _inject(how, position)
    committed = position == len(STEPS)   # the fault comes after the commit (the note's removal)
    if how == "fail":
        with pytest.raises(StoreError) as info:
            write(store, tmp_path)
        assert {r.url for r in info.value.lost} == (set() if committed else set(urls))
        in_process = snapshot(store)
        assert (in_process == before) != committed
        assert_consistent(store)
    else:
        with pytest.raises(Killed):
            write(store, tmp_path)
    store.on_write = None
    store.close()
    reopened = Store(tmp_path / "store")   # the recovery sweep runs here
    assert not (tmp_path / "store" / "bulk-pending.json").exists()
    assert_consistent(reopened)
    if committed:
        assert all(_present(reopened, u) for u in urls)
        assert snapshot(reopened) > before
    else:
        assert snapshot(reopened) == before
        write(reopened, tmp_path)     # the same write, without the fault, then goes through whole
        reopened.flush()
        assert all(_present(reopened, u) for u in urls)
    assert_consistent(reopened)
    reopened.close()

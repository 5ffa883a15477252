"""SIGKILL of `hubnet-crawler serve` while it rebuilds its text index in the background (issue 18).

The store's index is of an older layout, as after an upgrade. Each start answers at once and
rebuilds in the background, one source per committed batch; it is killed between batches (a long
rest after each batch keeps it part-built, by count) and once at whatever point it has reached. After each
kill the index file is sound, holds whole batches only and says it is incomplete; the next start
resumes it, and the last one, run to the end, holds exactly what a build from scratch holds.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import threading

import pytest
import requests

from hubnet.crawler.store.graph import Store
from hubnet.crawler.store.index import INDEX_FILE, TextIndex
from hubnet.testing import Federation
from loop_helpers import wait_for
from server_helpers import CRAWLED_GROUPS, HOSTS, crawled_store, index_snapshot
from server_helpers import crawler_command, read_lines

BACKGROUND = {"HUBNET_INDEX_START_INLINE": "0", "HUBNET_INDEX_SYNC_BATCH": "1"}
PAUSED = {**BACKGROUND, "HUBNET_INDEX_SYNC_PAUSE": "3600"}   # after each batch: part-built until killed


def start(path, fed, env: dict):
    """A `hubnet-crawler serve` over ``path``; (process, base URL) once it listens."""
    resolves = [a for h in HOSTS for a in ("--resolve", f"{h}:{fed.port}:127.0.0.1")]
    proc = subprocess.Popen(crawler_command() + ["serve", "--port", "0", "--store", str(path), "--allow-private",
                                                 "--recrawl-interval", "off", *resolves],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    seen = []
    while True:
        line = lines.get(timeout=60)
        assert line is not None, "serve exited early:\n" + "".join(seen)
        seen.append(line)
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        if m:
            return proc, m.group(1)


def index_state(base) -> dict:
    return requests.get(base + "health", timeout=30).json()["index"]


def kill(proc) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def check_after_kill(path) -> int:
    """The index file is sound and says it is incomplete; returns the sources it holds."""
    conn = sqlite3.connect(path / INDEX_FILE)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        complete = conn.execute("SELECT v FROM meta WHERE k = 'complete'").fetchone()
        sources = conn.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
        # whole batches only: every indexed source has its groups, no group lacks its source's row
        orphans = conn.execute("SELECT COUNT(*) FROM groups WHERE source NOT IN (SELECT graph FROM sources)").fetchone()
        assert orphans[0] == 0
    finally:
        conn.close()
    assert complete is None or json.loads(complete[0]) is False or sources == CRAWLED_GROUPS
    return sources


@pytest.mark.slow
def test_a_rebuild_killed_again_and_again_resumes_to_the_same_index(tmp_path):
    fed = Federation()
    try:
        path = crawled_store(fed, tmp_path / "store")
        store = Store(path)
        reference = TextIndex(None)
        reference.sync(store)
        expected = index_snapshot(reference)
        reference.close()
        TextIndex(path / INDEX_FILE).close()   # an index of this layout, then made one of an older one
        conn = sqlite3.connect(path / INDEX_FILE)
        conn.execute("UPDATE meta SET v = '1' WHERE k = 'schema'")
        conn.commit()
        conn.close()
        store.close()

        held = 0
        for _ in range(2):   # killed between batches: each start resumes the last and adds one batch
            proc, base = start(path, fed, PAUSED)
            try:
                state = wait_for(lambda: (s := index_state(base)).get("sources_indexed", 0) > held and s,
                                 f"{held + 1} sources indexed", every=0.05)
                assert state["state"] == "building" and state["sources"] == CRAWLED_GROUPS
                assert state["sync_to_do"] == CRAWLED_GROUPS - held   # resumed, not started again
                assert requests.get(base + "api/groups", timeout=30).json()["index"]["state"] == "building"
            finally:
                kill(proc)
            assert check_after_kill(path) == held + 1
            held += 1

        proc, base = start(path, fed, BACKGROUND)   # wherever it has got to: mid-batch, between, or done
        kill(proc)
        check_after_kill(path)

        proc, base = start(path, fed, BACKGROUND)
        try:
            wait_for(lambda: index_state(base)["complete"], "the index complete", every=0.05)
            body = requests.get(base + "api/groups?limit=1000", timeout=30).json()
            assert body["total"] == CRAWLED_GROUPS and "index" not in body
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        index = TextIndex(path / INDEX_FILE)
        try:
            assert index_snapshot(index) == expected
            assert index.status() == {"state": "ready", "complete": True}
        finally:
            index.close()
    finally:
        fed.close()

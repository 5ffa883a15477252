"""A server's start over a store whose text index must be rebuilt (issue 18): time to the first
answer, time to the index complete, memory, and requests answered meanwhile.

``python -m bench.index_start --store S [--force schema|delete] [--base DIR] [--interval 1]``

The store ``S`` (a copy: it is written) is served by ``hubnet-crawler serve`` in a process of its
own (re-crawls off). ``--force schema`` first marks the index as of an older layout (an upgrade);
``delete`` removes it (a new server). From the spawn it times the first 200 of ``/health`` and
of a directory search, then polls every ``--interval`` seconds: ``/health`` (the index's state and
progress), ``/api/groups?q=garden`` and an ``ASK`` on ``/sparql`` (their latency), and the server
process's resident memory (``VmRSS``, its peak ``VmHWM``) and CPU seconds, until ``/health`` says the
index is complete (or, for a build that has no such state, the search answers with every group).
``--base DIR`` runs another build of the ``hubnet`` package (``DIR`` first on ``PYTHONPATH``,
as ``bench.crawl_cpu --base``), e.g. the code before the background rebuild, whose start rebuilds
inside ``create_app`` and answers nothing meanwhile. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from bench.server import proc_cpu_seconds

SEARCH = "api/groups?q=community&topic=food%20bank"


def _status_kb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return 0.0


def _force(store: Path, how: str | None) -> None:
    index = store / "index.sqlite"
    if how == "delete":
        for suffix in ("", "-wal", "-shm"):
            Path(str(index) + suffix).unlink(missing_ok=True)
    elif how == "schema":
        conn = sqlite3.connect(index)
        conn.execute("UPDATE meta SET v = '4' WHERE k = 'schema'")
        conn.commit()
        conn.close()


def _get(url: str, timeout: float = 600):
    t = time.monotonic()
    try:
        resp = requests.get(url, timeout=timeout)
        return resp.status_code, time.monotonic() - t, resp
    except requests.RequestException:
        return None, time.monotonic() - t, None


def run(store: Path, *, base: str | None, interval: float) -> dict:
    env = dict(os.environ)
    if base:
        env["PYTHONPATH"] = base
    cmd = [sys.executable, "-c", "from hubnet.crawler.cli import main; main()", "serve", "--store", str(store),
           "--port", "0", "--recrawl-interval", "off"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in iter(proc.stdout.readline, ""):
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    url, peak_total = None, 0.0
    while url is None:
        line = lines.get(timeout=1800)
        if line is None:
            raise SystemExit("serve exited early")
        m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
        url = m.group(1) if m else None
    out = {"listening_s": round(time.monotonic() - t0, 2)}
    status, _, _ = _get(url + "health")
    out["first_health_s"] = round(time.monotonic() - t0, 2)
    status, took, resp = _get(url + SEARCH)
    out["first_search_s"] = round(time.monotonic() - t0, 2)
    out["first_search_status"] = status
    latencies: dict = {"health": [], "search": [], "sparql": []}
    progress = []
    while True:
        h_status, h_took, h = _get(url + "health")
        latencies["health"].append(h_took)
        index = (h.json().get("index") if h is not None and h_status == 200 else None) or {}
        _, s_took, _ = _get(url + "api/groups?q=garden")
        latencies["search"].append(s_took)
        _, q_took, _ = _get(url + "sparql?query=ASK%7B%3Fs%20%3Fp%20%3Fo%7D",)
        latencies["sparql"].append(q_took)
        rss = _status_kb(proc.pid, "VmRSS") / 1024
        children = 0.0
        try:
            for child in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
                children += _status_kb(int(child), "VmRSS") / 1024
        except OSError:
            pass
        peak_total = max(peak_total, rss + children)
        progress.append({"t": round(time.monotonic() - t0, 1), "state": index.get("state"),
                         "indexed": index.get("sources_indexed"), "rss_mb": round(rss)})
        if not index or index.get("complete"):
            break
        time.sleep(interval)
    out["index_complete_s"] = round(time.monotonic() - t0, 2)
    out["peak_rss_mb"] = round(_status_kb(proc.pid, "VmHWM") / 1024, 1)
    out["peak_rss_with_workers_mb"] = round(peak_total, 1)
    out["server_cpu_s"] = round(proc_cpu_seconds(proc.pid), 1)
    out["latency_ms_while_building"] = {
        k: {"n": len(v), "p50": round(statistics.median(v) * 1000, 1), "max": round(max(v) * 1000, 1)}
        for k, v in latencies.items() if v}
    out["progress"] = progress[:: max(1, len(progress) // 12)] + progress[-1:]
    status, _, resp = _get(url + SEARCH)
    out["search_after"] = resp.json().get("total") if resp is not None and status == 200 else status
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(600)
    out["stop_s"] = round(time.monotonic() - t, 2)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True, type=Path)
    ap.add_argument("--force", choices=["schema", "delete"])
    ap.add_argument("--base", help="a directory holding another build of the hubnet package")
    ap.add_argument("--interval", type=float, default=1.0)
    a = ap.parse_args(argv)
    if not (a.store / "oxigraph").is_dir():
        raise SystemExit(f"{a.store} is not a store")
    _force(a.store, a.force)
    print(json.dumps({"store": str(a.store), "force": a.force, "base": a.base,
                      **run(a.store, base=a.base, interval=a.interval)}, indent=1), flush=True)


if __name__ == "__main__":
    main()

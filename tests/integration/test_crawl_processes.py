"""No process outlives `hubnet-crawler crawl` or `serve` (their parser processes and fork server, issue 18).

The commands run as a user runs them, in a session of their own; once one has ended, nothing is left
in that session: when the crawl finishes, when SIGTERM stops it (systemd, docker stop), and when
Ctrl-C stops it (SIGINT to the terminal's whole process group), while a parser is busy on a hostile
page. At the same door, the page that would hold a parser for minutes fails with ``parse_timeout``.
(`make demo` runs each server in a process group of its own and stops the groups: test_demo.py.)
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
from collections import Counter
from pathlib import Path

import pytest
import requests

from hubnet.testing import Federation, wait_for
from server_helpers import crawler_command, read_lines

HOSTS = [f"g{i}.test" for i in range(3)]
# CPython's html.parser rescans the rest of the body at each "</" (quadratic, gh-135462): about a
# minute of CPU for these 1 MB (tests/crawler/crawl/test_parse_workers.py).
SLOW = b"</" * 500_000


@pytest.fixture(scope="module")
def fed():
    f = Federation()
    f.put("slow.test", "/", SLOW, content_type="text/html")
    for host in HOSTS:
        f.put_profile(host, f"Group {host}", path="/")
    yield f
    f.close()


def command(fed, args: list, parse_timeout: float, **popen) -> subprocess.Popen:
    """``hubnet-crawler ARGS`` reaching every site, in a new session (its id is the process's pid)."""
    resolves = [a for h in ["slow.test", *HOSTS] for a in ("--resolve", f"{h}:{fed.port}:127.0.0.1")]
    env = {**os.environ, "HUBNET_MAX_BODY": str(1 << 20), "HUBNET_PARSE_TIMEOUT": str(parse_timeout),
           "HUBNET_GEOCODER": "off"}
    return subprocess.Popen(crawler_command() + [*args, "--allow-private", *resolves], text=True, env=env,
                            start_new_session=True, **popen)


def crawl(fed, store: Path, parse_timeout: float) -> subprocess.Popen:
    seeds = [fed.url("slow.test")] + [fed.url(h) for h in HOSTS]
    return command(fed, ["crawl", *seeds, "--store", str(store), "--delay", "0", "--json"], parse_timeout,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def in_session(sid: int) -> dict:
    """pid -> (state, parent pid, CPU ticks used) of the live processes in session ``sid`` (Linux /proc)."""
    found = {}
    for d in Path("/proc").iterdir():
        try:
            stat = (d / "stat").read_text() if d.name.isdigit() else ""
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            found[int(d.name)] = (fields[0], int(fields[1]), int(fields[11]) + int(fields[12]))
    return found


def busy_parser(sid: int, seen: Counter) -> list:
    """A grandchild of the command (forked by the fork server) found running, with CPU used, at several
    looks in a row: a parser on the hostile page (a SPARQL worker, forked there too, waits idle)."""
    processes = in_session(sid)
    for pid, (state, ppid, ticks) in processes.items():
        if ppid != sid and ppid in processes and state == "R" and ticks > os.sysconf("SC_CLK_TCK") // 10:
            seen[pid] += 1
    return [pid for pid, looks in seen.items() if looks >= 5 and pid in processes]


def wait_busy(proc: subprocess.Popen) -> None:
    seen: Counter = Counter()
    wait_for(lambda: busy_parser(proc.pid, seen), timeout=60, interval=0.1)


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from Linux /proc")


def test_a_crawl_that_finishes_leaves_no_process_and_the_slow_page_fails_alone(fed, tmp_path):
    proc = crawl(fed, tmp_path / "store", parse_timeout=2)
    try:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summary = json.loads(out)
        assert summary["sources"]["new"] == len(HOSTS)
        assert [(f["url"], f["code"]) for f in summary["failures"]] == [(fed.url("slow.test"), "parse_timeout")]
        wait_for(lambda: not in_session(proc.pid), timeout=10)
    finally:
        stop_session(proc)


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM to the crawler", "Ctrl-C (SIGINT to its process group)"])
def test_a_crawl_stopped_while_a_parser_is_busy_leaves_no_process(fed, tmp_path, stop):
    proc = crawl(fed, tmp_path / "store", parse_timeout=600)
    try:
        stop_when_busy(proc, stop)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == (-signal.SIGTERM if stop.startswith("SIGTERM") else 1), err
        assert "Traceback" not in err
        wait_for(lambda: not in_session(proc.pid), timeout=10)
    finally:
        stop_session(proc)


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM to the server", "Ctrl-C (SIGINT to its process group)"])
def test_serve_stopped_while_a_parser_is_busy_leaves_no_process(fed, tmp_path, stop):
    """A ping of the hostile page starts a crawl in the server; stopped meanwhile, the server finishes
    that crawl (the page fails after at most twice parse_timeout), exits 0 and leaves nothing behind."""
    proc = command(fed, ["serve", "--port", "0", "--store", str(tmp_path / "store")], parse_timeout=3,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    seen = []
    try:
        while not (m := re.search(r"at (http://127\.0\.0\.1:\d+/)", seen[-1] if seen else "")):
            line = lines.get(timeout=60)
            assert line is not None, "serve exited early:\n" + "".join(seen)
            seen.append(line)
        assert requests.post(m.group(1) + "ping", data={"url": fed.url("slow.test")}, timeout=10).status_code == 202
        stop_when_busy(proc, stop)
        assert proc.wait(timeout=60) == 0
        while (line := lines.get(timeout=10)) is not None:
            seen.append(line)
        assert "Traceback" not in "".join(seen)
        wait_for(lambda: not in_session(proc.pid), timeout=10)
    finally:
        stop_session(proc)


def stop_when_busy(proc: subprocess.Popen, stop: str) -> None:
    """Once a parser is busy: SIGTERM to the process, or Ctrl-C (SIGINT to its whole process group)."""
    wait_busy(proc)
    if stop.startswith("SIGTERM"):
        proc.send_signal(signal.SIGTERM)
    else:
        os.killpg(proc.pid, signal.SIGINT)


def stop_session(proc: subprocess.Popen) -> None:
    """Whatever a failed test left running: the crawl's process group (its fork server and parsers too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()

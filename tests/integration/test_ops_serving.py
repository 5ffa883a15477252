"""The operator's commands against a store a real `hubnet-crawler serve` holds (subprocess):
sources/groups/query/export answer through the control socket, forget stops the next crawl and
the next ping, backup -> restore gives the same sources, and every line the server logs is JSON."""

from __future__ import annotations

import json
import queue
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.settings import RECRAWL_INTERVAL
from hubnet.testing import Federation
from server_helpers import CRAWLED_GROUPS, HOSTS, crawled_store
from server_helpers import crawler_command as _command, read_lines as _read_lines


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def served(tmp_path):
    fed = Federation()
    path = crawled_store(fed, tmp_path / "store")
    resolves = [a for h in HOSTS for a in ("--resolve", f"{h}:{fed.port}:127.0.0.1")]
    proc = subprocess.Popen(_command() + ["serve", "--port", "0", "--store", str(path), "--allow-private",
                                          *resolves], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    seen, base = [], None
    try:
        while base is None:
            line = lines.get(timeout=30)
            assert line is not None, "serve exited early:\n" + "".join(seen)
            seen.append(line)
            m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            base = m.group(1) if m else None
        yield fed, path, base, proc, lines, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        fed.close()


def _wait_log(lines, seen, predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if predicate(json.loads(line)):
            return
    raise AssertionError("no such log line:\n" + "".join(seen))


@pytest.mark.slow
def test_commands_work_while_serving_and_forget_holds(served, tmp_path):
    fed, path, base, proc, lines, seen = served
    listing = json.loads(run("sources", "--store", path, "--json").output)
    assert len([s for s in listing["sources"] if s["status"] == "ok"]) == CRAWLED_GROUPS

    groups = json.loads(run("groups", "marsh", "--store", path, "--format", "json").output)
    assert {g["name"] for g in groups["groups"]} == {"Marsh Gate Residents' Association", "Friends of Marsh Park"}
    table = run("groups", "marsh", "--store", path).output
    assert "Friends of Marsh Park" in table and table.rstrip().endswith("2 groups")
    csv_out = run("groups", "--store", path, "--format", "csv").output.splitlines()
    assert csv_out[0].startswith("key,name") and len(csv_out) == 1 + CRAWLED_GROUPS
    count = run("query", "SELECT (COUNT(*) AS ?n) { ?g a <http://schema.org/Organization> }",
                "--store", path, "--format", "csv")
    assert count.exit_code == 0 and count.output.split()[-1] == str(CRAWLED_GROUPS)
    table = run("query", "SELECT ?name { ?g a <http://schema.org/Organization> ; <http://schema.org/name> ?name } "
                         "ORDER BY ?name", "--store", path)
    assert table.output.splitlines()[0].strip() == "?name" and "Friends of Marsh Park" in table.output
    ask = run("query", "ASK { ?g a <http://schema.org/Organization> }", "--store", path)
    assert ask.output == "true\n"
    refused = run("query", "DELETE WHERE { ?s ?p ?o }", "--store", path)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    dump = tmp_path / "dump.nq"
    assert run("export", "--store", path, "-o", dump).exit_code == 0
    assert fed.url("alpha.test") in dump.read_text()

    # forget: gone from the directory and /sources lists why; the next ping is refused, the next crawl skips it.
    victim = fed.url("beta.test")
    out = run("forget", victim, "--reason", "asked to leave", "--store", path)
    assert out.exit_code == 0, out.output
    listing = json.loads(run("sources", "--store", path, "--json").output)
    assert victim not in {s["url"] for s in listing["sources"]}
    assert [(f["url"], f["reason"]) for f in listing["forgotten"]] == [(victim, "asked to leave")]
    assert "asked to leave" in run("sources", "--store", path).output
    assert "asked to leave" in requests.get(base + "sources", timeout=10).text
    for entry in listing["forgotten"]:                    # every address the forget blocked
        ping = requests.post(base + "ping", data={"url": entry["url"]}, timeout=10)
        assert ping.status_code == 403 and ping.json()["error"]["code"] == "forgotten"
    assert requests.get(base + "api/groups/nobody", timeout=10).status_code == 404
    fed.clear_log()
    assert requests.post(base + "ping", data={"url": fed.url("alpha.test")}, timeout=10).status_code == 202
    _wait_log(lines, seen, lambda e: e["event"] == "crawl")
    assert fed.requests_to("alpha.test") and not fed.requests_to("beta.test", "/")   # alpha links to beta
    gone = json.loads(run("groups", "--store", path, "--format", "json").output)
    assert "Friends of Marsh Park" not in {g["name"] for g in gone["groups"]}    # beta's group

    # backup while serving, restore into a new path, the same sources.
    assert run("backup", tmp_path / "bk", "--store", path).exit_code == 0
    before = json.loads(run("sources", "--store", path, "--json").output)
    shutil.copytree(tmp_path / "bk", tmp_path / "restored")
    restored = json.loads(run("sources", "--store", tmp_path / "restored", "--json").output)
    assert restored == before

    assert run("unforget", victim, "--store", path).exit_code == 0
    assert requests.post(base + "ping", data={"url": victim}, timeout=10).status_code == 202

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    events = [json.loads(line) for line in seen]          # every line the server wrote is one JSON object
    assert all({"ts", "level", "event"} <= e.keys() for e in events)
    by = {e["event"] for e in events}
    assert {"start", "ping", "crawl", "control", "stop"} <= by
    refused = [e for e in events if e["event"] == "ping" and e["outcome"] == "refused"]
    assert refused and refused[0]["code"] == "forgotten" and refused[0]["who"] == "127.0.0.1"
    start = next(e for e in events if e["event"] == "start")
    assert start["recrawl_interval_s"] == RECRAWL_INTERVAL                  # re-crawls unless told otherwise
    refusal = next(e for e in events if e["event"] == "refusal")
    assert (refusal["what"], refusal["status"], refusal["code"]) == ("GET /api/groups/nobody", 404, "not_found")
    crawl = next(e for e in events if e["event"] == "crawl")
    assert crawl["who"] == "ping" and isinstance(crawl["duration_ms"], int) and crawl["sources"]
    forgets = [e for e in events if e["event"] == "control" and e["what"] == "forget"]
    assert forgets[0]["who"].startswith("cli uid=") and forgets[0]["outcome"] == "ok"


@pytest.mark.parametrize("command", [["sources"], ["query", "ASK {}"], ["groups"], ["export"]])
def test_read_only_commands_do_not_create_a_store(tmp_path, command):
    missing = tmp_path / "typo"
    result = run(*command, "--store", missing)
    assert result.exit_code == 1 and "there is no store at" in result.output
    assert not missing.exists()


def test_the_control_socket_works_under_a_long_store_path(tmp_path):
    """sun_path holds 108 bytes; a deeper store is reached through /proc/self/fd."""
    from hubnet.crawler import control
    from hubnet.crawler.store.graph import Store

    path = tmp_path / ("d" * 60) / ("e" * 60) / "store"
    store = Store(path)
    server = control.ControlServer(control.Context(store), path, timeout=0.5).start()
    try:
        assert len(str(control.socket_path(path))) > 108
        stuck = control._connect(path)                      # connects and never sends a request
        assert control.call(path, "sources", {}) == {"sources": [], "forgotten": []}   # still answered
        stuck.close()
        with pytest.raises(Exception) as err:
            control.call(path, "nonsense", {})
        assert err.value.code == "bad_request"
        assert oct(control.socket_path(path).stat().st_mode & 0o777) == "0o600"
    finally:
        server.close()
        store.close()
    assert control.call(path, "sources", {}) is None         # no server: the CLI opens the store itself

"""``hubnet-crawler serve`` for real: a subprocess on a free port, read with requests; one process
holds the store, so a concurrent ``crawl`` (or a second server) is refused with a plain message."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.store.graph import Store
from hubnet.crawler.web.serve import parse_duration
from server_helpers import crawler_command as _command, read_lines as _read_lines
from hubnet.testing import Federation
from server_helpers import CRAWLED_GROUPS, crawled_store, make_app


@pytest.fixture
def crawled(tmp_path):
    fed = Federation()
    try:
        yield fed, crawled_store(fed, tmp_path / "store")
    finally:
        fed.close()


@pytest.mark.slow
def test_serve_for_real_and_refuse_a_concurrent_crawl(crawled):
    fed, path = crawled
    proc = subprocess.Popen(_command() + ["serve", "--port", "0", "--store", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        seen, base = [], None
        while base is None:
            line = lines.get(timeout=30)
            assert line is not None, "serve exited early:\n" + "".join(seen)
            seen.append(line)
            m = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            base = m.group(1) if m else None

        health = requests.get(base + "health", timeout=10)
        assert health.status_code == 200 and health.json()["ok"] is True
        assert health.json()["groups"] == CRAWLED_GROUPS
        groups = requests.get(base + "api/groups", params={"q": "marsh"}, timeout=10).json()
        assert {g["name"] for g in groups["groups"]} == {"Marsh Gate Residents' Association", "Friends of Marsh Park"}
        page = requests.get(base, timeout=10)
        assert page.headers["Content-Type"] == "text/html; charset=utf-8" and "Community groups" in page.text
        missing = requests.get(base + "api/groups/nobody", timeout=10)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

        # The server holds the store: a crawl against it fails with the store's own plain message.
        result = CliRunner().invoke(cli, ["crawl", "--store", str(path), fed.url("late.test")])
        assert result.exit_code == 1
        assert "is in use by another process" in result.output
        assert "hubnet-crawler serve" in result.output and "Traceback" not in result.output

        proc.send_signal(signal.SIGTERM)                     # stops like Ctrl-C, releasing the store
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    Store(path).close()                                       # the lock is free again


def test_a_second_server_on_a_held_store_is_refused(crawled, tmp_path):
    fed, path = crawled
    app = make_app(fed, path, BACKGROUND=False)
    try:
        result = CliRunner().invoke(cli, ["serve", "--store", str(path), "--port", "0"])
        assert result.exit_code == 1
        assert "is in use by another process" in result.output
    finally:
        app.extensions["hubnet"].close()


def test_closing_the_app_releases_the_store(crawled):
    fed, path = crawled
    app = make_app(fed, path)
    app.extensions["hubnet"].close()
    app.extensions["hubnet"].close()                          # idempotent
    Store(path).close()


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("1h", 3600), ("1d", 86400), ("90", 90), ("2.5h", 9000),
                                           ("off", None), ("0", None), ("", None)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "10x", "-1h", "30s"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_serve_rejects_a_bad_interval(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--store", str(tmp_path / "s"), "--recrawl-interval", "soon"])
    assert result.exit_code == 2 and "--recrawl-interval" in result.output


def test_serve_help_explains_local_only_and_proxies():
    out = " ".join(CliRunner().invoke(cli, ["serve", "--help"]).output.split())
    assert "127.0.0.1 means only this computer can connect" in out
    assert "reverse proxy" in out and "--trusted-proxy" in out

"""Crawl progress: a redrawn line on a terminal, plain lines in a log, a summary at the end;
driven by a real crawl of the fixture network and an injected clock (no timing assumptions)."""

from __future__ import annotations

import io
import itertools

import pytest
from click.testing import CliRunner

from hubnet.crawler.crawl import progress as report
from hubnet.crawler.cli import main as cli
from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.progress import ProgressLine
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation
from server_helpers import HOSTS, build_sites, crawl_settings


class Clock:
    """Each reading is ``step`` seconds after the last: every outcome crosses any display interval."""

    def __init__(self, step):
        self.ticks = itertools.count(0.0, step)

    def __call__(self):
        return next(self.ticks)


@pytest.fixture
def fed():
    f = Federation()
    yield f
    f.close()


def _crawl(fed, tmp_path, progress):
    store = Store(tmp_path / "store")
    try:
        return Crawler(store, crawl_settings(fed), progress=progress).crawl(build_sites(fed))
    finally:
        store.close()


@pytest.mark.parametrize("tty", [True, False])
def test_progress_shows_done_queued_failed_and_rate(fed, tmp_path, tty):
    out = io.StringIO()
    step = 2 * (report.PLAIN_EVERY if not tty else 0.1)
    progress = ProgressLine(out, tty=tty, clock=Clock(step))
    summary = _crawl(fed, tmp_path, progress)
    progress.close()
    text = out.getvalue()
    n, failed = len(summary.outcomes), summary.counts["failed"]
    assert failed >= 1                                  # broken.test answers 500
    if tty:
        frames = [f for f in text.split("\r\x1b[K") if f]
        assert "\n" not in text and text.endswith("\r\x1b[K")   # redrawn in place, cleared at the end
    else:
        frames = text.splitlines()
        assert "\x1b" not in text and "\r" not in text and all(f.startswith("progress: ") for f in frames)
    assert len(frames) == n                               # the clock moved past the interval every time
    last = frames[-1]
    assert f"{n} done, 0 queued, {failed} failed" in last and "sources/s" in last


def test_plain_progress_is_quiet_between_intervals(fed, tmp_path):
    out = io.StringIO()
    progress = ProgressLine(out, tty=False, clock=Clock(report.PLAIN_EVERY / 100))
    _crawl(fed, tmp_path, progress)
    assert out.getvalue() == ""                           # a short crawl logs only its summary


def test_cli_crawl_prints_a_summary_not_a_terminal(fed, tmp_path):
    args = ["crawl", "--store", str(tmp_path / "s"), "--allow-private", "--delay", "0",
            *[a for h in HOSTS for a in ("--resolve", f"{h}:{fed.port}:127.0.0.1")], fed.url("network.test")]
    build_sites(fed)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and result.output.startswith("crawled ")

"""What the crawler tells people: a progress line, the crawl summary, the sources table."""

from __future__ import annotations

import sys
import time
from collections import Counter

from hubnet.crawler.crawl.checks import problem_list


PLAIN_EVERY = 10.0   # seconds between progress lines when stderr is not a terminal (a log, a pipe)


class ProgressLine:
    """Crawl progress on stderr: done / queued / failed and the rate.

    On a terminal one line, redrawn at most 10 times a second and cleared at the
    end (the summary follows); elsewhere a plain line every ``PLAIN_EVERY``
    seconds, so a log shows a long crawl moving without a line per source.
    ``clock`` is injectable for tests.
    """

    def __init__(self, stream=None, *, tty: bool | None = None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.counts: Counter = Counter()
        self._start = clock()
        self._last = self._start
        self._shown = False

    def __call__(self, done: int, queued: int, outcome) -> None:
        self.counts[outcome.result] += 1
        now = self.clock()
        if now - self._last < (0.1 if self.tty else PLAIN_EVERY):
            return
        self._last = now
        text = self.line(done, queued, now)
        if self.tty:
            self.stream.write(f"\r\x1b[K{text}")
        else:
            self.stream.write(f"progress: {text}\n")
        self._shown = True
        self.stream.flush()

    def line(self, done: int, queued: int, now: float) -> str:
        rate = done / max(now - self._start, 1e-6)
        return f"{done} done, {queued} queued, {self.counts.get('failed', 0)} failed, {rate:.1f} sources/s"

    def close(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def format_summary(summary) -> str:
    d = summary.to_dict()
    c = d["sources"]
    lines = [
        f"crawled {sum(c.values())} sources in {d['elapsed_s']:.1f} s: "
        f"{c['new']} new, {c['updated']} updated, {c['unchanged']} unchanged, "
        f"{c['deleted']} deleted, {c['failed']} failed" + (f", {c['skipped']} skipped" if c["skipped"] else ""),
        f"{d['triples_written']} statements written in {d['store_writes']} store writes"
        + (f"; {d['foreign_triples_dropped']} statements about other sites dropped"
           if d["foreign_triples_dropped"] else ""),
    ]
    if d["failed_by_reason"]:
        lines.append("failures by reason: " + ", ".join(f"{k} {v}" for k, v in sorted(d["failed_by_reason"].items())))
        for f in d["failures"][:20]:
            lines.append(f"  {f['url']}\n    {f['code']}: {f['message']}")
        if len(d["failures"]) > 20:
            lines.append(f"  ... and {len(d['failures']) - 20} more (see `hubnet-crawler sources`)")
    return "\n".join(lines)


def format_sources(records) -> str:
    if not records:
        return "no sources yet: run `hubnet-crawler crawl SEED`"
    lines = []
    for r in records:
        head = f"{r.status:<8} {r.url}"
        if r.graph and r.graph != r.url:
            head += f"  (now at {r.graph})"
        lines.append(head)
        detail = []
        if r.last_success:
            detail.append(f"last success {r.last_success}, {r.triples} statements")
        if r.dropped_foreign:
            detail.append(f"{r.dropped_foreign} statements about other sites ignored")
        if detail:
            lines.append("         " + "; ".join(detail))
        if r.error_message:
            lines.append(f"         last error ({r.error_at}): {r.error_message}")
        problems = problem_list(r.problems) if isinstance(r.problems, str) else (r.problems or [])
        for p in problems:   # the editor's rules the stored profile breaks (crawl/checks.py)
            lines.append(f"         {'error' if p.get('severity') == 'error' else 'suggestion'}: {p.get('message')}")
    return "\n".join(lines)


def format_forgotten(entries) -> str:
    lines = ["forgotten by this hub (not fetched, pings refused; `hubnet-crawler unforget URL` to undo):"]
    for e in entries:
        lines.append(f"  {e['url']}\n         since {e['forgotten_at']}: {e['reason']}")
    return "\n".join(lines)

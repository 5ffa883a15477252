"""What the crawler tells people: a progress line, the crawl summary, the sources table."""

from __future__ import annotations

import sys
import time
from collections import Counter


class ProgressLine:
    """A one-line progress display on a terminal (stderr), redrawn at most 10 times a second."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.counts: Counter = Counter()
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, done: int, queued: int, outcome) -> None:
        self.counts[outcome.result] += 1
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        rate = done / max(now - self._start, 1e-6)
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        self.stream.write(f"\r\x1b[K{done} done, {queued} queued ({parts}) {rate:.0f}/s")
        self.stream.flush()

    def close(self) -> None:
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
    return "\n".join(lines)

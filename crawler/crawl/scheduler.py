"""The server's one crawler thread: the only code in the process that writes to the store.

Pings and timed re-crawls are queued here and run one crawl at a time, so the
store keeps a single writer (as in ``hubnet-crawler crawl``) while request
threads read the live store beside it. After every crawl it calls the ``after_crawl``
callback it was given (``service.Aggregator.after_crawl``: text index, SPARQL checkpoint,
brokering models). It knows nothing of Flask or of the read side.

Pings that arrive while others are pending are coalesced: a URL already
waiting is not queued twice, and all waiting URLs go into one crawl. A ping
that arrives while a crawl runs (a long re-crawl, say) is handed to that crawl,
which serves it in its own lane, before the re-crawl's remaining URLs and with
workers reserved for pings (``Crawler.submit``, crawler/frontier.py); a URL
already fetched in that crawl is fetched again, since the site may have changed
after the fetch started. Once a pinged source is stored, the index and the
SPARQL snapshot are refreshed at once (``publish``), not at the end of the
re-crawl. A ping reaches only the pinged URL and the pages it
links to directly, within the ping budget of ``Settings``.

A ping also re-checks the other sources the crawler knows on the same site
(scheme, host and port), when there are only a few: a group found through a
link at ``https://x.org/`` that pings with ``https://x.org/profile.jsonld``
(or withdraws it: 410) must see the directory follow, and both documents are
the same site speaking for itself. On a site hosting many groups, only the
pinged URL is re-checked, so one ping never turns into a crawl of a platform.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

import pyoxigraph as ox

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.robots import RobotsCache
from hubnet.crawler.logs import event, ms
from hubnet.crawler.store.graph import GONE, HUBNET, PROV_GRAPH, now

log = logging.getLogger(__name__)
MAX_SIBLINGS = 5   # known sources on the pinged site re-checked with a ping; more: only the pinged URL


def same_site_sources(store, url: str) -> list:
    """Known, not withdrawn sources on the same scheme://host:port as ``url`` (at most MAX_SIBLINGS, else none)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return []
    q = ("SELECT ?s ?prov ?gone ?site WHERE { GRAPH ?prov { ?s hubnet:status ?st } "
         "FILTER(?st != ?gone && STRSTARTS(STR(?s), ?site)) } LIMIT " + str(MAX_SIBLINGS + 1))
    found = [sol["s"].value for sol in store.query(q, prefixes={"hubnet": str(HUBNET)}, substitutions={
        ox.Variable("prov"): PROV_GRAPH, ox.Variable("gone"): ox.Literal(GONE.value),
        ox.Variable("site"): ox.Literal(f"{parts.scheme}://{parts.netloc}/")})]
    return [] if len(found) > MAX_SIBLINGS else [u for u in found if u != url]


class Background:
    def __init__(self, store, settings, interval: float | None, *, after_crawl=None, wait_refreshed=None):
        self.store = store
        self.after_crawl = after_crawl or (lambda crawled_at: None)
        self.wait_refreshed = wait_refreshed or (lambda timeout: True)
        self.settings = settings
        self.interval = float(interval) if interval else None
        self._cv = threading.Condition()
        self._pending: dict = {}         # url -> time queued (insertion-ordered)
        self._recrawl_requested = False
        self._stopping = False
        self._busy = False
        self._current: Crawler | None = None   # the crawl running now, which takes pings as they come
        self._thread: threading.Thread | None = None
        self._next_recrawl = time.monotonic() + self.interval if self.interval else None
        # Outlives each crawl: pings reuse it; a re-crawl re-checks each entry once, conditionally.
        self.robots = RobotsCache(settings.robots_cache_size)
        self.crawls = 0
        self.last_crawl: str | None = None
        self.last_error: str | None = None
        self.last_summary: dict | None = None   # the last crawl's summary (Summary.to_dict())

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hubnet-crawler", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the crawl in progress (a crawl is not cut short: its writes are transactions)."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the crawler thread did not stop within %.0f s", timeout)

    def ping(self, url: str) -> bool:
        """Queue a re-check of ``url``; False when it was already waiting (coalesced)."""
        with self._cv:
            if url in self._pending:
                return False
            current = self._current
        if current is not None and current.submit(self._ping_seeds(url)):
            return True
        with self._cv:
            if url in self._pending:
                return False
            self._pending[url] = time.time()
            self._cv.notify_all()
            return True

    def _ping_seeds(self, url: str) -> list:
        """The pinged URL and the few other known sources on its site (module docstring)."""
        return [url] + [u for u in same_site_sources(self.store, url) if u != url]

    def recrawl(self) -> None:
        """Ask for a re-check of every known source now."""
        with self._cv:
            self._recrawl_requested = True
            self._cv.notify_all()

    def status(self) -> dict:
        with self._cv:
            return {"running": self._thread is not None and self._thread.is_alive(), "busy": self._busy,
                    "pending_pings": len(self._pending), "crawls": self.crawls, "last_crawl": self.last_crawl,
                    "recrawl_interval_s": self.interval, "last_error": self.last_error}

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """For tests and shutdown: True once nothing is pending or running, the refresh after it included."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending or self._busy or self._recrawl_requested:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return self.wait_refreshed(max(0.0, deadline - time.monotonic()))

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopping and not self._pending and not self._due():
                    self._cv.wait(self._wait_time())
                if self._stopping:
                    return
                urls = list(self._pending)
                self._pending.clear()
                recrawl = self._recrawl_requested or self._due()
                self._recrawl_requested = False
                if recrawl and self.interval:
                    self._next_recrawl = time.monotonic() + self.interval
                self._busy = True
            try:
                self._crawl(urls, recrawl)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _due(self) -> bool:
        return self._recrawl_requested or (self._next_recrawl is not None and time.monotonic() >= self._next_recrawl)

    def _wait_time(self):
        if self._next_recrawl is None:
            return None
        return max(0.0, self._next_recrawl - time.monotonic())

    def _crawl(self, urls: list, recrawl: bool) -> None:
        try:
            if recrawl:
                # Each re-crawl cycle reads every origin's robots.txt again (conditionally), so a
                # withdrawal there is seen by the next cycle, not only after robots_cache_ttl.
                self.robots.recheck_all()
            seeds = []
            for url in urls:
                # A ping is the site asking to be read now, perhaps after fixing its robots.txt.
                self.robots.forget(url)
                seeds += [u for u in self._ping_seeds(url) if u not in seeds]
            crawler = Crawler(self.store, self.settings, robots=self.robots,
                              publish=lambda: self.after_crawl(now()))
            with self._cv:
                self._current = crawler
            # Pinged URLs are seeds marked found_via="ping"; a re-crawl also re-checks every known source.
            try:
                summary = crawler.crawl(seeds, recheck_known=recrawl, found_via="ping")
            finally:
                with self._cv:
                    self._current = None
            finished = now()
            self.after_crawl(finished)
            with self._cv:
                self.crawls += 1
                self.last_crawl = finished
                self.last_error = None
                self.last_summary = done = summary.to_dict()
            event("crawl", who="schedule" if recrawl else "ping", what=urls or "every known source",
                  outcome="done", duration_ms=ms(done["elapsed_s"]), sources=done["sources"],
                  failed_by_reason=done["failed_by_reason"], skipped_by_reason=done["skipped_by_reason"])
        except Exception as exc:  # the thread must outlive any one crawl's failure
            event("error", logging.ERROR, exc_info=True, who="schedule" if recrawl else "ping",
                  what=urls or "every known source", outcome="failed")
            with self._cv:
                self.last_error = f"{type(exc).__name__}: {exc}"

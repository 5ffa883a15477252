"""Telling aggregators that the profile changed, so they re-crawl it soon.

A ping is ``POST <aggregator>/ping`` with the form field ``url=<profile URL>``.
It is a courtesy, not a dependency: aggregators crawl on their own schedule
anyway, so a ping runs in a background thread, failures are only logged,
and nothing the volunteer does ever waits on (or fails because of) one.
"""

from __future__ import annotations

import logging
import threading

import requests

from hubnet import __version__

log = logging.getLogger(__name__)

USER_AGENT = f"hubnet-node/{__version__} (+https://w3id.org/hubnet)"


class Pinger:
    def __init__(self, aggregators, timeout: float = 5.0):
        self.aggregators = list(aggregators or [])
        self.timeout = timeout
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def send(self, profile_url: str) -> list[tuple[str, bool, str]]:
        """Ping every aggregator now; returns ``(aggregator, ok, detail)`` for each."""
        results = []
        for agg in self.aggregators:
            endpoint = agg.rstrip("/") + "/ping"
            try:
                resp = requests.post(endpoint, data={"url": profile_url}, timeout=self.timeout,
                                     headers={"User-Agent": USER_AGENT}, allow_redirects=False)
            except requests.RequestException as exc:
                log.warning("ping %s failed: %s", endpoint, exc)
                results.append((agg, False, f"could not connect ({type(exc).__name__})"))
                continue
            ok = resp.status_code < 400
            if not ok:
                log.warning("ping %s answered %s", endpoint, resp.status_code)
            results.append((agg, ok, f"HTTP {resp.status_code}"))
        return results

    def ping(self, profile_url: str | None) -> threading.Thread | None:
        """Ping in the background; returns the thread (None when there is nothing to do)."""
        if not self.aggregators or not profile_url:
            return None
        thread = threading.Thread(target=self._run, args=(profile_url,), name="hubnet-ping", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _run(self, profile_url: str) -> None:
        try:
            self.send(profile_url)
        except Exception:  # a bug here must not surface anywhere a volunteer is waiting
            log.exception("ping failed")

    def wait(self, timeout: float | None = None) -> None:
        """Wait for pings in flight (the CLI before exiting; tests before asserting)."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)

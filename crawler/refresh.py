"""The work after each crawl — text index sync, SPARQL checkpoint, brokering models — on a thread
of its own, so the crawler thread goes straight back to pings (issue 12, finding 2).

Requests made while a refresh runs are coalesced into one more run with the
latest crawl time: each step only does what the data changed. A request without
a crawl time (None: a server's start-up sync) runs with None unless a crawl's
request joins it.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class Refresher:
    def __init__(self, work):
        self._work = work                 # work(crawled_at): the steps to run
        self._cv = threading.Condition()
        self._pending = False
        self._crawled_at: str | None = None   # the latest crawl time among the pending requests
        self._busy = False
        self._stopping = False
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="hubnet-refresh", daemon=True)
        self._thread.start()

    def request(self, crawled_at: str | None) -> None:
        with self._cv:
            self._pending = True
            if crawled_at is not None:
                self._crawled_at = crawled_at
            self._cv.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """True once no refresh is pending or running (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def stop(self, timeout: float = 30.0) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._stopping:
                    self._cv.wait()
                if self._stopping:
                    return
                crawled_at, self._crawled_at, self._pending, self._busy = self._crawled_at, None, False, True
            try:
                self._work(crawled_at)
                self.last_error = None
            except Exception as exc:  # the thread must outlive any one refresh's failure
                log.exception("refresh after a crawl failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

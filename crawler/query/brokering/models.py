"""The brokering models, built from the store and kept until the data changes.

``Network`` (links, introductions, bridges) and ``Matcher`` (needs and
offers) each take a few hundred milliseconds to build at 10k groups and then
answer in microseconds to milliseconds. The text index's ``generation``
counter (bumped on every sync that changed something) says when one is out of
date.

Builds run on one builder thread of their own, never on a request thread nor
on the crawler thread, each under a time budget (``build_budget``: a build
that overruns stops with ``OverBudget`` and the previous model stays). A
request that finds its model out of date asks for a build and waits for it at
most ``wait`` seconds; after that it is answered from the previous model, or,
when there is none yet, with a 503 and ``Retry-After`` (issue 12, finding 2).
"""

from __future__ import annotations

import logging
import math
import threading
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout, wait as futures_wait

from hubnet.crawler.budget import Budget, OverBudget
from .matching import Matcher
from .network import Network

log = logging.getLogger(__name__)


def build_network(store, budget: Budget) -> Network:
    net = Network.from_store(store, budget)
    budget.check()
    net.bridges()      # the whole-network answers, worked out here rather than by the first visitor
    net.all_links()
    return net


def build_matcher(store, budget: Budget) -> Matcher:
    matcher = Matcher.from_store(store, budget)
    budget.check()
    matcher.page(limit=0)   # the full match list (~4 s at 10k groups)
    return matcher


class Models:
    BUILDERS = {"network": build_network, "matcher": build_matcher}

    def __init__(self, store, index=None, *, build_budget: float | None = None, wait: float | None = None):
        self.store = store
        self.index = index
        self.build_budget = build_budget
        self.wait = wait
        self._lock = threading.Lock()
        self._cache: dict = {}      # name -> (generation, model)
        self._building: dict = {}   # name -> (generation, Future)
        self._builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubnet-models")

    def _generation(self):
        return self.index.meta("generation", 0) if self.index is not None else None

    def _current(self, name, gen):
        hit = self._cache.get(name)
        return hit is not None and hit[0] == gen and gen is not None

    def _build(self, name: str, gen):
        model = self.BUILDERS[name](self.store, Budget(self.build_budget, f"building the {name} model"))
        with self._lock:
            self._cache[name] = (gen, model)
        return model

    def _start(self, name: str, gen):
        """The build of ``name`` for ``gen``: the one already running (or failed: the same data
        would fail again, so the next generation tries again), or a new one."""
        with self._lock:
            running = self._building.get(name)
            if running is not None and running[0] == gen and gen is not None and (
                    not running[1].done() or running[1].exception() is not None):
                return running[1]
            future = self._builder.submit(self._build, name, gen)
            self._building[name] = (gen, future)
            return future

    def _get(self, name: str):
        gen = self._generation()
        if self._current(name, gen):
            return self._cache[name][1]
        future = self._start(name, gen)
        try:
            return future.result(timeout=self.wait)
        except (FutureTimeout, OverBudget) as exc:
            previous = self._cache.get(name)
            if previous is not None:
                return previous[1]       # the last model while the new one is built
            retry = math.ceil(self.wait or 1) if isinstance(exc, FutureTimeout) else 5
            raise OverBudget(f"the {name} is being built from the latest crawl; try again in a few seconds",
                             retry_after=retry) from None

    @property
    def network(self) -> Network:
        return self._get("network")

    @property
    def matcher(self) -> Matcher:
        return self._get("matcher")

    def start(self) -> list:
        """Start building every model that is out of date (at server start); returns the builds."""
        gen = self._generation()
        return [self._start(name, gen) for name in self.BUILDERS if not self._current(name, gen)]

    def warm(self) -> None:
        """Build, after a crawl, what the first visitor after a change would otherwise wait for
        (at 10k groups: ~1.5 s for the network, ~4 s for the matcher and its full match list).
        Waits for the builds (it runs on the hub's refresh thread); an overrun is logged."""
        for build in self.start():
            try:
                build.result()
            except OverBudget as exc:
                log.warning("%s; the previous model is kept", exc)

    def invalidate(self) -> None:
        self._cache.clear()

    def close(self, wait: float = 30.0) -> None:
        """Take no more builds, and wait (at most ``wait`` seconds; builds stop at their budget) for one
        still running: it reads the store, which stays locked until the build lets go of it."""
        self._builder.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            running = [future for _, future in self._building.values() if not future.done()]
        futures_wait(running, timeout=wait)

"""The brokering models, built from the store and kept until the data changes.

``Network`` (links, introductions, bridges) and ``Matcher`` (needs and
offers) each take a few hundred milliseconds to build at 10k groups and then
answer in microseconds to milliseconds. They are rebuilt lazily, the first
time they are asked for after the store changed — the text index's
``generation`` counter (bumped on every sync that changed something) says when.
"""

from __future__ import annotations

import threading

from .matching import Matcher
from .network import Network


class Models:
    def __init__(self, store, index=None):
        self.store = store
        self.index = index
        self._lock = threading.Lock()
        self._cache: dict = {}

    def _generation(self):
        return self.index.meta("generation", 0) if self.index is not None else None

    def _get(self, name, build):
        gen = self._generation()
        hit = self._cache.get(name)
        if hit is not None and hit[0] == gen and gen is not None:
            return hit[1]
        with self._lock:  # one build at a time; the others wait for it rather than build too
            hit = self._cache.get(name)
            if hit is not None and hit[0] == gen and gen is not None:
                return hit[1]
            model = build(self.store)
            self._cache[name] = (gen, model)
            return model

    @property
    def network(self) -> Network:
        return self._get("network", Network.from_store)

    @property
    def matcher(self) -> Matcher:
        return self._get("matcher", Matcher.from_store)

    def warm(self) -> None:
        """Build, after a crawl, what the first visitor after a change would otherwise wait for
        (at 10k groups: ~1.5 s for the network, ~4 s for the matcher and its full match list)."""
        net = self.network
        net.bridges()
        net.all_links()
        self.matcher.page(limit=0)

    def invalidate(self) -> None:
        self._cache.clear()

"""The crawl's frontier: per-host queues in two lanes, and the budgets every new source must fit.

Scheduling (issue 12, finding 5): a worker takes a URL only from a host that is ready (not
being fetched, its delay and its address's delay passed), so one host with a long
Crawl-delay and many URLs never holds a worker while other sites wait. Pings have a lane of
their own, taken first, with workers reserved for it.

Budgets (issue 12, finding 3): what one ping, one seed and one registrable domain may add to
the store in a crawl, and what the whole store may hold. Everything over a budget is recorded
with the reason code ``over_quota``: skipped before any fetch, or refused before any write.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections import Counter, OrderedDict, deque
from itertools import islice
from urllib.parse import urlsplit

from publicsuffixlist import PublicSuffixList

from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import GONE, MISSING, OK, STALE

PING, CRAWL = "ping", "crawl"
OVER_QUOTA = "over_quota"
_SCAN = 64        # hosts looked at per lane for one take; those not ready rotate to the back
_PSL = PublicSuffixList()   # the list ships inside the wheel: nothing is fetched at run time
_DOTTED = re.compile(r"[0-9.]+")   # the only characters an IPv4 address is written with


def registrable_domain(host: str) -> str:
    """The part of ``host`` one registrant controls (Public Suffix List, private rules included).

    ``a.github.io`` and ``b.github.io`` are two domains; ``www.x.org.uk`` and ``x.org.uk`` one.
    A name that is itself a public suffix, and an IP address, stand for themselves.
    """
    host = host.strip("[]").rstrip(".").lower()
    address = host.split("%", 1)[0]
    if ":" in address or _DOTTED.fullmatch(address):   # else neither IPv6 nor IPv4: no ValueError to raise
        try:
            ipaddress.ip_address(address)
            return host
        except ValueError:
            pass
    return _PSL.privatesuffix(host) or host


def host_of(url: str) -> str:
    return urlsplit(url).hostname or url


def domain_of(url: str) -> str:
    return registrable_domain(host_of(url))


class Lanes:
    """Per-host FIFO queues in a ping lane and a crawl lane; at most one URL per host in work.

    Workers that find nothing ready wait, each kind (the lanes it takes from) in its own line. A
    change (a URL queued, a host freed, a request ended) wakes one waiting worker of each kind that
    has URLs queued, not every worker: the one that takes a URL passes the wake on while queued
    hosts outnumber the workers already woken, and one that finds nothing looks through as many
    hosts as the whole line would have. Once nothing is queued or in work, all wake to end.
    """

    def __init__(self):
        self.queues = {PING: OrderedDict(), CRAWL: OrderedDict()}
        self.busy: set = set()      # hosts a worker is on now
        self.active = 0
        self._size = 0              # URLs queued in both lanes
        self._waiting: dict = {}    # lanes -> deque of the futures of workers waiting for them, oldest first
        self._woken: Counter = Counter()   # lanes -> workers woken by ``wake`` and not yet looking

    def put(self, item, lane: str) -> None:
        self.queues[lane].setdefault(host_of(item.url), deque()).append(item)
        self._size += 1
        self.wake()

    def move(self, url: str, src: str, dst: str) -> None:
        """Move the URL ``url`` waiting in lane ``src`` to lane ``dst`` (a ping for a URL already queued)."""
        host = host_of(url)
        queue = self.queues[src].get(host)
        for waiting in list(queue or ()):
            if waiting.url == url:
                queue.remove(waiting)
                if not queue:
                    del self.queues[src][host]
                self._size -= 1
                self.put(waiting, dst)

    def size(self) -> int:
        return self._size

    def idle(self) -> bool:
        return self.active == 0 and not self._size

    def wake(self) -> None:
        idle = self.idle()
        for lanes, waiters in self._waiting.items():
            if idle:
                while waiters:
                    self._pick(lanes, waiters)
            elif waiters and self._woken[lanes] < sum(len(self.queues[lane]) for lane in lanes):
                self._pick(lanes, waiters)

    def _pick(self, lanes, waiters) -> None:
        """Wake the first worker in ``waiters`` still waiting (one whose timer ran out is left alone)."""
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                self._woken[lanes] += 1
                waiter.set_result(True)
                return

    def done(self, item) -> None:
        self.busy.discard(host_of(item.url))
        self.active -= 1
        self.wake()

    def take(self, lanes, ready_at, scan: int = _SCAN) -> tuple:
        """(item, None) for a ready host among the first ``scan`` of each lane, else (None, seconds until
        one may be ready, or None)."""
        now = time.monotonic()
        soonest = None
        for lane in lanes:
            queue = self.queues[lane]
            for host in list(islice(queue, scan)):
                if host in self.busy:
                    continue
                at = ready_at(queue[host][0].url)
                if at is not None and at <= now:
                    items = queue[host]
                    item = items.popleft()
                    if items:
                        queue.move_to_end(host)
                    else:
                        del queue[host]
                    self._size -= 1
                    self.busy.add(host)
                    self.active += 1
                    return item, None
                queue.move_to_end(host)
                if at is not None:
                    soonest = at - now if soonest is None else min(soonest, at - now)
        return None, soonest

    async def next(self, lanes, ready_at, finished):
        """The next ready item from ``lanes``, or None once ``finished()`` says the crawl is over."""
        while True:
            # As many hosts as every worker waiting in this line would have looked at, were all woken.
            item, wait = self.take(lanes, ready_at, _SCAN * (1 + len(self._waiting.get(lanes, ()))))
            if item is not None:
                self.wake()
                return item
            if finished():
                self.wake()
                return None
            await self._wait(lanes, wait)

    async def _wait(self, lanes, timeout) -> None:
        """Until ``wake`` picks this worker, or ``timeout`` seconds (None: no limit)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        self._waiting.setdefault(lanes, deque()).append(waiter)
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self._woken[lanes] -= 1     # picked by wake: no longer in the line
            elif waiter in self._waiting[lanes]:
                self._waiting[lanes].remove(waiter)   # timed out or cancelled, and not passed over by wake yet


def _expire(waiter) -> None:
    if not waiter.done():
        waiter.set_result(False)


class Budgets:
    """Counts for one crawl; ``admit`` for a URL before it is queued, ``statements`` before a write."""

    def __init__(self, settings: Settings, known: dict):
        self.s = settings
        self.known = known
        self.roots: dict = {}                 # url -> the seed (or re-checked source) it was reached from
        self.ping_roots: set = set()
        self.new_by_root: Counter = Counter()
        self.new_by_domain: Counter = Counter()
        self.added_by_root: Counter = Counter()
        self.triples_by_domain: Counter = Counter()
        self.store_triples = 0
        self.store_sources = 0
        for rec in known.values():
            if rec.status != GONE:
                self.store_sources += 1
            if rec.graph and rec.status in (OK, STALE, MISSING):
                self.triples_by_domain[domain_of(rec.graph)] += rec.triples
                self.store_triples += rec.triples

    def root_of_known(self, url: str) -> str:
        """Follow found_from back to the first source of the chain (bounded, cycle-safe)."""
        seen = {url}
        for _ in range(self.s.max_depth + 2):
            rec = self.known.get(url)
            parent = rec.found_from if rec is not None else None
            if not parent or parent in seen or parent not in self.known:
                break
            seen.add(parent)
            url = parent
        return url

    def set_root(self, item) -> None:
        """Give a seed, ping or re-checked source its root; a ping's whole chain gets the ping budget."""
        if item.root is None:
            item.root = item.url if item.depth == 0 else self.root_of_known(item.url)
        if item.found_via == "ping" and item.root == item.url:
            self.ping_roots.add(item.url)
        root_rec = self.known.get(item.root)
        if root_rec is not None and root_rec.found_via == "ping":
            self.ping_roots.add(item.root)

    def is_ping(self, item) -> bool:
        return item.root in self.ping_roots

    def max_depth(self, item) -> int:
        return self.s.ping_max_depth if self.is_ping(item) else self.s.max_depth

    def admit(self, item, url: str, is_known: bool, new_sources: int) -> str | None:
        """None if ``url`` may be queued (and counted), else why not (reason code over_quota)."""
        s = self.s
        self.roots.setdefault(url, item.root)
        if is_known:
            return None
        operator_seed = item.found_via == "seed" and item.depth == 0
        domain = domain_of(url)
        if self.store_sources + new_sources >= s.max_store_sources:
            return f"not fetched: the store holds its limit of {s.max_store_sources} sources"
        if not operator_seed:
            if self.new_by_domain[domain] >= s.max_new_sources_per_domain:
                return (f"not fetched: {s.max_new_sources_per_domain} new sources on {domain} already "
                        "this crawl (the per-domain budget)")
            limit = s.ping_max_new_sources if self.is_ping(item) else s.max_new_sources_per_seed
            if self.new_by_root[item.root] >= limit:
                kind = "ping of" if self.is_ping(item) else "seed"
                return f"not fetched: the {kind} {item.root} reached its budget of {limit} new sources"
        self.new_by_domain[domain] += 1
        self.new_by_root[item.root] += 1
        return None

    def statements(self, url: str, graph: str, old: int, new: int) -> str | None:
        """None if a source at ``graph`` may grow from ``old`` to ``new`` statements (then counted), else why not."""
        s = self.s
        delta = new - old
        if delta <= 0:
            return None
        domain = domain_of(graph)
        root = self.roots.get(url, url)
        root_limit = s.ping_max_triples if root in self.ping_roots else s.max_triples_per_seed
        for total, limit, what in (
                (self.triples_by_domain[domain], s.max_triples_per_domain, f"the sources on {domain} hold"),
                (self.added_by_root[root], root_limit, f"the sources reached from {root} added this crawl"),
                (self.store_triples, s.max_store_triples, "the store holds")):
            if total + delta > limit:
                return (f"not stored: {new} statements would take what {what} past its limit of {limit} "
                        "statements")
        self.triples_by_domain[domain] += delta
        self.added_by_root[root] += delta
        self.store_triples += delta
        return None

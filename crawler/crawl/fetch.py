"""The one safe fetcher for every outbound request the crawler makes.

Everything the crawler fetches is hostile (docs/threat-model.md), so this module is where T1-T3
(SSRF), T6 (size, time, bombs), T10 (content types), T12 (politeness, robots.txt), T21
(proxies, credentials) and T22 (typed errors only) are enforced:

- URLs are canonicalised and refused early (scheme, userinfo, port, IP-literal hosts);
  the address and URL rules live in ``netpolicy.py``;
- names are resolved once per Fetcher by ``SafeResolver``, every address is checked, and
  every connection goes to exactly the first checked address; a socket factory re-checks the address
  right before ``connect()`` as a backstop (Mastodon, Misskey and Advocate check the
  connected address, never the URL string);
- redirects are followed by hand so that every hop is checked again;
- a total deadline covers each request, and bodies are counted after decompression;
- robots.txt (RFC 9309), one request in flight per host, a delay between requests,
  retries with back-off and ``Retry-After``; and per resolved address and per /24 or /64, a
  bound on requests in flight and a delay between starts, so that many names pointing at
  one machine do not make the crawler an amplifier;
- at most ``max_idle_connections`` idle keep-alive sockets, so that thousands of hosts do not
  exhaust our file descriptors; running out anyway (EMFILE) is reported as ours, not the site's.

Every failure leaves as ``FetchError`` with one of the stable ``code`` strings in
``REASON_CODES`` and a message a volunteer can act on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import errno
import logging
import random
import socket
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
from yarl import URL

from hubnet.crawler.crawl import robots as robotslib
from hubnet.crawler.crawl.netpolicy import (AddressPolicy, SafeResolver, check_target, fetch_error, refusals, refuse,
                                            literal_address, public_only)
from hubnet.crawler.settings import ACCEPT, PROFILE_TYPES, Settings
from hubnet.vocab.errors import FetchError

REASON_CODES = (
    "bad_url", "bad_scheme", "blocked_port", "blocked_address", "dns_failed", "connect_failed",
    "timeout", "too_large", "too_many_redirects", "redirect_loop", "bad_content_type",
    "bad_encoding", "robots_disallowed", "robots_unreachable", "crawl_delay_too_long",
    "backed_off", "network_error",
)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
RETRY_STATUSES = (429, 502, 503, 504)
# We only ask for these (T6); anything else a server sends is refused rather than passed on raw.
ACCEPT_ENCODING = "gzip, identity"
_OK_ENCODINGS = ("", "identity", "gzip")
_CHUNK = 16 * 1024
# An unreachable robots.txt is asked for again sooner than a good one (RFC 9309 §2.4 caps the
# good case at 24 h; a site that was down should be able to come back within the crawl).
_ROBOTS_FAILURE_TTL = 600.0
# This process (EMFILE) or the whole system (ENFILE) is out of file descriptors.
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the fetcher


@dataclass
class Response:
    url: str
    status: int
    headers: dict
    body: bytes
    content_type: str
    redirects: list = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    redirect_statuses: list = field(default_factory=list)   # the status of each hop in ``redirects``

    @property
    def moved_permanently(self) -> bool:
        """Reached through redirects that are all permanent (301, 308): the old address says it moved."""
        return bool(self.redirect_statuses) and all(s in (301, 308) for s in self.redirect_statuses)


@dataclass
class _Host:
    """Politeness state for one host name (T12)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0       # monotonic time before which no request to it may start
    last_end: float = 0.0         # monotonic time the last request to it ended
    delay: float = 0.0            # per_host_delay, or a larger Crawl-delay
    backed_off_until: float = 0.0  # monotonic; set by a Retry-After longer than max_retry_after


@dataclass
class _Gate:
    """Politeness for one address or subnet: at most ``limit`` requests in flight, starts ``interval`` apart."""

    limit: int
    interval: float
    active: int = 0
    next_start: float = 0.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _kib(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} bytes"


class _PooledConnector(aiohttp.TCPConnector):
    """A TCPConnector that keeps at most ``max_idle`` idle keep-alive connections.

    aiohttp bounds connections in use (``limit``), never idle ones: each host's last
    connection stays open for ``keepalive_timeout``, so a crawl of 10,000 hosts held 8,730
    sockets and failed with EMFILE. Beyond the bound the least recently released idle
    connection is closed; the one just released (robots.txt, then the profile from the same
    host) stays. aiohttp has no public API for its pool, so this reads the private ``_conns``
    ({key: [(protocol, release time), ...]}, oldest first, in 3.10 to 3.14). If a future
    aiohttp drops it, connections are closed on release instead (correct, just no reuse); if
    it renames ``_release``, only the short ``keepalive_timeout`` limits idle sockets.

    The release order is kept beside the pool (``_released``), so closing the oldest costs the
    same whatever the bound, instead of a scan of the whole pool per release. Entries whose
    connection left the pool (taken again, or closed by aiohttp) are skipped when met and
    swept out once they outnumber the bound, so the order stays as small as the pool.
    """

    def __init__(self, *, max_idle: int, **kw):
        super().__init__(**kw)
        self.max_idle = max(0, max_idle)
        self.bounded = isinstance(getattr(self, "_conns", None), dict)
        self._released: OrderedDict = OrderedDict()   # protocol -> pool key, least recently released first
        if not self.bounded:
            log.warning("aiohttp %s has no visible connection pool; keep-alive reuse is off", aiohttp.__version__)

    def idle_count(self) -> int | None:
        """Idle pooled connections now (None if this aiohttp does not let us see them)."""
        return sum(map(len, self._conns.values())) if self.bounded else None

    def _release(self, key, protocol, *, should_close: bool = False, **kw) -> None:
        super()._release(key, protocol, should_close=should_close or not self.bounded, **kw)
        if not self.bounded:
            return
        released = self._released
        released.pop(protocol, None)
        pooled = self._conns.get(key)
        if pooled and pooled[-1][0] is protocol:   # kept for reuse (not closed on release)
            released[protocol] = key
        excess = self.idle_count() - self.max_idle
        while excess > 0 and released:
            oldest, oldest_key = released.popitem(last=False)
            if self._close_idle(oldest_key, oldest):
                excess -= 1
        if len(released) > 2 * self.max_idle + 16:
            idle = {proto for queue in self._conns.values() for proto, _ in queue}
            self._released = OrderedDict((p, k) for p, k in released.items() if p in idle)

    def _close_idle(self, key, protocol) -> bool:
        """Close ``protocol`` if it is still idle in the pool under ``key``; False if it left the pool."""
        queue = self._conns.get(key)
        for i, (proto, _) in enumerate(queue or ()):
            if proto is protocol:
                del queue[i]
                if not queue:
                    del self._conns[key]
                proto.close()
                return True
        return False


class Fetcher:
    """Fetch URLs safely and politely. One per crawl; use ``async with``.

    ``resolver_factory`` returns the aiohttp ``AbstractResolver`` that does the lookups
    (default: getaddrinfo in a thread); the Fetcher wraps it so that overrides and
    address checks always apply. ``robots`` is a ``RobotsCache`` to share with later
    Fetchers (a re-crawl then skips robots.txt still within its TTL); default: a new one.
    """

    def __init__(self, settings: Settings, *, resolver_factory=None, robots: robotslib.RobotsCache | None = None):
        self.settings = settings
        self.policy = AddressPolicy(settings)
        self._resolver_factory = resolver_factory or aiohttp.ThreadedResolver
        self._session: aiohttp.ClientSession | None = None
        self._connector: _PooledConnector | None = None
        self._hosts: dict[str, _Host] = {}
        self._gates: dict[str, _Gate] = {}      # "a:<address>" and "n:<subnet>"
        self._gates_of: dict[str, list[_Gate]] = {}   # address -> [its gate, its subnet's gate]
        self._gate_changed = asyncio.Event()
        self._resolver: SafeResolver | None = None
        self.on_release = None                  # called when a request ends (the crawler's scheduler wakes)
        self.robots = robots if robots is not None else robotslib.RobotsCache(settings.robots_cache_size)
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self._slots: asyncio.Semaphore | None = None
        self.stats = {"requests": 0, "robots_fetches": 0, "robots_cache_hits": 0, "retries": 0,
                      "redirects": 0, "bytes": 0, "refused": 0, "errors": 0}

    async def __aenter__(self) -> "Fetcher":
        self._open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            s = self.settings
            resolver = self._resolver = SafeResolver(s, self.policy, self._resolver_factory())
            max_idle = s.max_idle_connections
            connector = self._connector = _PooledConnector(
                resolver=resolver,
                use_dns_cache=False,       # SafeResolver keeps the one checked answer per name itself
                limit=0,                   # concurrency is capped by self._slots instead
                max_idle=2 * max(1, s.concurrency) if max_idle is None else max_idle,
                keepalive_timeout=s.keepalive_timeout,
                socket_factory=self._socket_factory,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # never store or send cookies (A9)
                trust_env=False,                      # ignore HTTP(S)_PROXY and .netrc (T21, A10)
                auto_decompress=True,                 # bounded chunks in aiohttp >= 3.13; we count decoded bytes
                requote_redirect_url=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout,
                                              sock_read=s.read_timeout),
            )
            # The crawler runs ping_workers beside its concurrency workers (a lane of their own).
            self._slots = asyncio.Semaphore(max(1, s.concurrency) + max(0, s.ping_workers))
        return self._session

    def _socket_factory(self, addr_info) -> socket.socket:
        """Backstop: the address is checked once more right before connect()."""
        family, type_, proto, _, sockaddr = addr_info
        why = self.policy.refusal(sockaddr[0])
        if why:
            raise refuse(fetch_error("blocked_address", f"refused to connect to {sockaddr[0]}, a {why} address; "
                                                        f"{public_only(why)}"))
        return socket.socket(family, type_, proto)

    # ---- public API

    def ready_at(self, url: str) -> float | None:
        """When a request to ``url`` could start without waiting for politeness (monotonic
        seconds; 0 for now), or None while its host or address is busy until a request ends.
        The crawler's scheduler uses it to hand workers only URLs that are ready."""
        try:
            _, host, port = check_target(url, self.settings, self.policy)
        except FetchError:
            return 0.0
        state = self._hosts.get(host)
        at = 0.0
        if state is not None:
            if state.lock.locked():
                return None
            at = max(state.next_start, 0.0) if state.backed_off_until <= time.monotonic() else 0.0
        address = literal_address(host) or (self._resolver.cached(host, port) if self._resolver else None)
        for gate in self._gates_for(address) if address else ():
            if gate.active >= gate.limit:
                return None
            at = max(at, gate.next_start)
        return at

    async def fetch(self, url: str, *, etag: str | None = None, last_modified: str | None = None,
                    accept: str = ACCEPT, content_types: tuple | None = PROFILE_TYPES,
                    max_body: int | None = None) -> Response:
        """GET ``url``; return the final Response or raise FetchError (see REASON_CODES).

        ``content_types=None`` accepts any media type for a 2xx; ``max_body`` overrides
        ``settings.max_body`` downwards or upwards for special callers.
        """
        try:
            return await self._fetch(url, etag, last_modified, accept, content_types,
                                     self.settings.max_body if max_body is None else max_body)
        except FetchError as exc:
            self.stats["errors"] += 1
            if exc.code in ("bad_url", "bad_scheme", "blocked_port", "blocked_address", "robots_disallowed",
                            "robots_unreachable", "crawl_delay_too_long", "backed_off"):
                self.stats["refused"] += 1
            raise
        except Exception as exc:  # T22: nothing but FetchError leaves this module
            self.stats["errors"] += 1
            raise FetchError(f"unexpected error while fetching {url!r}: {type(exc).__name__}: {exc}",
                             code="network_error") from exc

    # ---- the steps

    def _target(self, url: str) -> tuple[str, str, int]:
        """(canonical url, host, port) once ``netpolicy.check_target`` lets ``url`` through."""
        return check_target(url, self.settings, self.policy)

    async def _fetch(self, url, etag, last_modified, accept, content_types, max_body) -> Response:
        current, host, port = self._target(url)
        headers = {"User-Agent": self.settings.user_agent, "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        redirects: list[str] = []
        statuses: list[int] = []
        while True:
            try:
                self._check_backoff(host)
                if self.settings.obey_robots:
                    await self._obey_robots(current, host, port)
                resp = await self._request(current, host, headers, limit=max_body, content_types=content_types)
            except FetchError as exc:
                if redirects:  # say how we got there: the URL the volunteer gave is not the one that failed
                    raise FetchError(f"{exc.message} (reached by redirect from {redirects[0]})", code=exc.code) from None
                raise
            location = resp.headers.get("location")
            if resp.status not in REDIRECT_STATUSES or not location:
                resp.redirects, resp.redirect_statuses = redirects, statuses
                return resp
            if len(redirects) >= self.settings.max_redirects:
                raise FetchError(f"{redirects[0] if redirects else current} redirects more than "
                                 f"{self.settings.max_redirects} times (last hop: {current} -> {location})",
                                 code="too_many_redirects")
            nxt, nhost, nport = self._hop(current, location)
            if nxt == current or nxt in redirects:
                raise FetchError(f"redirect loop: {' -> '.join(redirects + [current, nxt])}", code="redirect_loop")
            redirects.append(current)
            statuses.append(resp.status)
            self.stats["redirects"] += 1
            current, host, port = nxt, nhost, nport

    def _hop(self, current: str, location: str) -> tuple[str, str, int]:
        """Resolve a Location header against the current URL and check it like a new URL."""
        try:
            target = urljoin(current, location)
        except ValueError as exc:
            raise FetchError(f"{current} redirects to an invalid URL {location!r}", code="bad_url") from exc
        try:
            return self._target(target)
        except FetchError as exc:
            raise FetchError(f"{current} redirects to {location!r}, refused: {exc.message}", code=exc.code) from None

    def _check_backoff(self, host: str) -> None:
        state = self._hosts.get(host)
        if state is not None:
            left = state.backed_off_until - time.monotonic()
            if left > 0:
                raise FetchError(f"{host} asked us to wait (Retry-After) {left:.0f} s more, longer than the "
                                 f"{self.settings.max_retry_after:g} s we wait within a crawl; it is skipped "
                                 "until then", code="backed_off")

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(delay=self.settings.per_host_delay)
        return state

    # ---- robots.txt (RFC 9309)

    async def _obey_robots(self, url: str, host: str, port: int) -> None:
        scheme = url.split(":", 1)[0]
        default = 443 if scheme == "https" else 80
        robots_url = f"{scheme}://{host}{'' if port == default else f':{port}'}/robots.txt"
        policy = self.robots.get(robots_url)
        if policy is None:
            lock = self._robots_locks.setdefault(robots_url, asyncio.Lock())
            async with lock:  # concurrent fetches for one origin share a single robots.txt request
                policy = self.robots.get(robots_url)
                if policy is None:
                    policy = await self._fetch_robots(robots_url, host, self.robots.to_recheck(robots_url))
                    self.robots.put(robots_url, policy)
                else:
                    self.stats["robots_cache_hits"] += 1
        else:
            self.stats["robots_cache_hits"] += 1
        delay = policy.check(url, self.settings.user_agent, self.settings.max_crawl_delay)
        if delay is not None:
            state = self._host(host)
            if delay > state.delay:
                # Also space the request that follows robots.txt itself.
                state.delay = delay
                state.next_start = max(state.next_start, state.last_end + delay)

    async def _fetch_robots(self, first: str, host: str,
                            known: robotslib.RobotsPolicy | None = None) -> robotslib.RobotsPolicy:
        """Read robots.txt; ``known`` (a policy being re-checked) is asked for conditionally, and a
        304 keeps it for another ``robots_cache_ttl``."""
        s = self.settings
        headers = {"User-Agent": s.user_agent, "Accept": "text/plain, */*;q=0.1", "Accept-Encoding": ACCEPT_ENCODING}
        if known is not None and known.etag:
            headers["If-None-Match"] = known.etag
        if known is not None and known.last_modified:
            headers["If-Modified-Since"] = known.last_modified
        current, chost, hops = first, host, 0
        self.stats["robots_fetches"] += 1
        while True:
            try:
                resp = await self._request(current, chost, headers, limit=s.robots_max_body,
                                           content_types=None, truncate=True)
            except FetchError as exc:
                if exc.code == "backed_off" or (hops == 0 and exc.code in ("blocked_address", "dns_failed")):
                    raise  # the host itself is the problem; say so rather than blame robots.txt
                if getattr(exc, "local_limit", False):
                    raise  # our own limits, not the site's: nothing to remember about its robots.txt
                return robotslib.unreachable(first, exc.message, ttl=min(s.robots_cache_ttl, _ROBOTS_FAILURE_TTL))
            if resp.status == 304 and known is not None and known.parser is not None:
                return dataclasses.replace(known, expires=time.monotonic() + s.robots_cache_ttl, recheck=False)
            location = resp.headers.get("location")
            if resp.status in REDIRECT_STATUSES and location:
                if hops >= s.robots_max_redirects:
                    return robotslib.too_many_redirects(first, hops, ttl=s.robots_cache_ttl)
                try:
                    current, chost, _ = self._hop(current, location)
                except FetchError as exc:  # a hop to a blocked place: never fetched, and not readable
                    return robotslib.unreachable(first, exc.message,
                                                 ttl=min(s.robots_cache_ttl, _ROBOTS_FAILURE_TTL))
                hops += 1
                continue
            ttl = s.robots_cache_ttl if resp.status < 500 else min(s.robots_cache_ttl, _ROBOTS_FAILURE_TTL)
            return robotslib.policy_for_status(first, resp.status, resp.body, limit=s.robots_max_body, ttl=ttl,
                                               etag=resp.etag, last_modified=resp.last_modified)

    # ---- one request, with politeness and retries

    async def _request(self, url: str, host: str, headers: dict, *, limit: int,
                       content_types: tuple | None, truncate: bool = False) -> Response:
        s = self.settings
        attempt = 0
        while True:
            try:
                resp = await self._polite_send(url, host, headers, limit, content_types, truncate)
            except FetchError as exc:
                if getattr(exc, "retryable", False) and attempt < s.retries:
                    self._schedule_retry(host, self._backoff(attempt))
                    attempt += 1
                    continue
                raise
            if resp.status not in RETRY_STATUSES:
                return resp
            wait = parse_retry_after(resp.headers.get("retry-after"))
            if wait is not None and wait > s.max_retry_after:
                self._host(host).backed_off_until = time.monotonic() + wait
                raise FetchError(f"{host} answered HTTP {resp.status} with Retry-After {wait:.0f} s, longer than "
                                 f"the {s.max_retry_after:g} s we wait within a crawl; it is skipped until then",
                                 code="backed_off")
            if attempt >= s.retries:
                if wait:
                    self._schedule_retry(host, wait, count=False)  # still honoured by the next request
                return resp
            self._schedule_retry(host, max(wait or 0.0, self._backoff(attempt)))
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        # Exponential, with jitter so that many crawlers' retries do not arrive together.
        return self.settings.retry_backoff * (2 ** attempt) * (1 + random.uniform(0, 0.2))

    def _schedule_retry(self, host: str, wait: float, count: bool = True) -> None:
        state = self._host(host)
        state.next_start = max(state.next_start, time.monotonic() + wait)
        if count:
            self.stats["retries"] += 1

    async def _polite_send(self, url, host, headers, limit, content_types, truncate) -> Response:
        """One request in flight per host, and ``delay`` between the end of one and the start
        of the next; then the address's and subnet's gates (``_enter``); the total deadline
        starts only once it is our turn."""
        session = self._open()
        state = self._host(host)
        try:
            async with state.lock:
                self._check_backoff(host)
                wait = state.next_start - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                gates = self._gates_for(await self._address(url, host))
                await self._enter(gates)
                try:
                    assert self._slots is not None
                    async with self._slots:
                        self.stats["requests"] += 1
                        try:
                            return await _within(self.settings.total_timeout,
                                                 self._send(session, url, headers, limit, content_types, truncate))
                        except asyncio.TimeoutError:
                            raise FetchError(f"{url} did not finish within the {self.settings.total_timeout:g} s "
                                             "total deadline", code="timeout") from None
                finally:
                    self._leave(gates)
                    state.last_end = time.monotonic()
                    state.next_start = max(state.next_start, state.last_end + state.delay)
        finally:
            if self.on_release is not None:
                self.on_release()

    async def _address(self, url: str, host: str) -> str:
        """The checked address this request will connect to (looked up once per Fetcher)."""
        literal = literal_address(host)
        if literal:
            return literal
        self._open()
        assert self._resolver is not None
        try:
            return await self._resolver.lookup(host, URL(url, encoded=True).port)
        except FetchError as exc:
            if _out_of_fds(exc):
                raise _fds_error(url) from exc
            raise

    def _gates_for(self, address: str) -> list[_Gate]:
        """The gates of ``address`` and of its subnet, made once per address (asked for every request
        and every look at the queues)."""
        gates = self._gates_of.get(address)
        if gates is not None:
            return gates
        s = self.settings
        keys = ((f"a:{address.split('%', 1)[0]}", s.per_address_concurrency, s.address_delay),
                (f"n:{self.policy.subnet(address)}", s.per_subnet_concurrency, s.subnet_delay))
        gates = []
        for key, limit, interval in keys:
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = _Gate(max(1, limit), max(0.0, interval))
            gates.append(gate)
        self._gates_of[address] = gates
        return gates

    async def _enter(self, gates: list[_Gate]) -> None:
        """Wait until every gate has room and its delay has passed, then take a place in each."""
        while True:
            if all(g.active < g.limit for g in gates):
                now = time.monotonic()
                wait = max(g.next_start for g in gates) - now
                if wait <= 0:
                    for g in gates:
                        g.active += 1
                        g.next_start = now + g.interval
                    return
                await asyncio.sleep(wait)
            else:
                await self._gate_changed.wait()

    def _leave(self, gates: list[_Gate]) -> None:
        for g in gates:
            g.active -= 1
        changed, self._gate_changed = self._gate_changed, asyncio.Event()
        changed.set()

    async def _send(self, session, url, headers, limit, content_types, truncate) -> Response:
        bucket: list[FetchError] = []
        token = refusals.set(bucket)
        try:
            async with session.get(URL(url, encoded=True), headers=headers, allow_redirects=False) as resp:
                try:
                    return await self._read(resp, url, limit, content_types, truncate)
                except BaseException:
                    resp.close()  # drop the connection rather than drain a hostile body
                    raise
        except FetchError:
            raise
        except Exception as exc:
            if _out_of_fds(exc):  # before the bucket: a lookup can fail this way too
                raise _fds_error(url) from exc
            if bucket:
                raise bucket[0] from None
            raise _map_error(exc, url) from exc
        finally:
            refusals.reset(token)

    async def _read(self, resp: aiohttp.ClientResponse, url, limit, content_types, truncate) -> Response:
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
        if "x-robots-tag" in hdrs:  # may be sent several times, each scoped to a robot (crawl/consent.py)
            hdrs["x-robots-tag"] = "\n".join(resp.headers.getall("X-Robots-Tag"))
        ctype = _media_type(hdrs.get("content-type"))
        status = resp.status
        body = b""
        if 200 <= status < 300 and status not in (204, 205):
            encoding = hdrs.get("content-encoding", "").strip().lower()
            if encoding not in _OK_ENCODINGS:
                raise FetchError(f"{url} was sent with Content-Encoding {encoding!r}; we only accept gzip "
                                 "or none", code="bad_encoding")
            if content_types is not None and ctype not in content_types:
                raise FetchError(f"{url} is {ctype or 'of no stated type'}; a profile must be one of "
                                 f"{', '.join(content_types)}", code="bad_content_type")
            try:
                length = int(hdrs.get("content-length", ""))
            except ValueError:
                length = None
            if length is not None and length > limit and not truncate:
                raise FetchError(f"{url} is {length} bytes (Content-Length); the limit is {_kib(limit)}",
                                 code="too_large")
            body = await self._read_body(resp, url, limit, truncate)
        return Response(url=url, status=status, headers=hdrs, body=body, content_type=ctype,
                        etag=hdrs.get("etag"), last_modified=hdrs.get("last-modified"))

    async def _read_body(self, resp, url, limit, truncate) -> bytes:
        """Count decoded bytes as they arrive; stop at ``limit`` (a gzip bomb never grows past it)."""
        chunks, total = [], 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            total += len(chunk)
            self.stats["bytes"] += len(chunk)
            if total > limit:
                if truncate:
                    chunks.append(chunk[: len(chunk) - (total - limit)])
                    resp.close()
                    break
                raise FetchError(f"{url} is larger than the {_kib(limit)} limit (after decompression)",
                                 code="too_large")
            chunks.append(chunk)
        return b"".join(chunks)


async def _within(seconds: float, coro):
    """``await coro``, or asyncio.TimeoutError after ``seconds``. asyncio.timeout (Python 3.11+) keeps
    ``coro`` in this task; wait_for would run it in a task of its own, one more per request."""
    if _timeout is None:
        return await asyncio.wait_for(coro, seconds)
    async with _timeout(seconds):
        return await coro


_timeout = getattr(asyncio, "timeout", None)   # None before Python 3.11


def _out_of_fds(exc: BaseException | None) -> bool:
    """True if ``exc`` or anything it was raised from is EMFILE or ENFILE."""
    for _ in range(8):  # aiohttp wraps our resolver's error, which wraps getaddrinfo's
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in _OUT_OF_FDS:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _fds_error(url: str) -> FetchError:
    # Not connect_failed: the site did nothing wrong, and blaming it (or caching its robots.txt
    # as unreachable) would mark healthy sources stale. Retryable: sockets close as we go.
    exc = fetch_error("network_error", "the crawler ran out of file descriptors (\"too many open files\") "
                                f"before it could connect to {url}; this is a limit of the machine running "
                                "the crawler (raise `ulimit -n` or lower the concurrency), not a problem "
                                "with the site", retryable=True)
    exc.local_limit = True
    return exc


def _map_error(exc: BaseException, url: str) -> FetchError:
    """Turn anything aiohttp, asyncio, ssl or the OS raises into a typed FetchError."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return fetch_error("timeout", f"connecting to {url} took longer than the connect timeout")
    if isinstance(exc, aiohttp.ServerTimeoutError) or isinstance(exc, asyncio.TimeoutError):
        return fetch_error("timeout", f"{url} sent nothing for longer than the read timeout")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return fetch_error("dns_failed", f"could not find the address of {url} ({exc.os_error})")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)):
        return fetch_error("connect_failed", f"TLS to {url} failed ({exc}); the site's certificate or TLS setup "
                                      "needs fixing")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return fetch_error("connect_failed", f"could not connect to {url} ({exc.os_error})", retryable=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        if "content-encoding" in str(exc).lower():
            return fetch_error("bad_encoding", f"{url} sent a body that is not valid gzip ({exc})")
        return fetch_error("network_error", f"{url} closed the connection before the body was complete ({exc})",
                    retryable=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        if "content-encoding" in str(exc.message).lower():  # e.g. br without Brotli installed
            return fetch_error("bad_encoding", f"{url} was sent with a Content-Encoding we did not ask for ({exc.message})")
        # Our own requests are plain GETs, so a "response error" before any status is the server
        # breaking HTTP: headers over 8 KiB, more than 128 headers, garbage instead of HTTP.
        return fetch_error("network_error", f"{url} sent a response we cannot read ({exc.message})")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return fetch_error("network_error", f"connection to {url} failed ({exc})", retryable=True)
    if isinstance(exc, (aiohttp.InvalidURL, ValueError, UnicodeError)):
        return fetch_error("bad_url", f"{url!r} could not be requested ({exc})")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return fetch_error("network_error", f"fetching {url} failed ({type(exc).__name__}: {exc})", retryable=True)
    return fetch_error("network_error", f"fetching {url} failed ({type(exc).__name__}: {exc})")

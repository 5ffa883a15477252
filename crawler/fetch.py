"""The one safe fetcher for every outbound request the crawler makes.

Everything the crawler fetches is hostile (threats.md §1), so this module is where T1-T3
(SSRF), T6 (size, time, bombs), T10 (content types), T12 (politeness, robots.txt), T21
(proxies, credentials) and T22 (typed errors only) are enforced:

- URLs are canonicalised and refused early (scheme, userinfo, port, IP-literal hosts);
- names are resolved once per connection by ``SafeResolver``, every address is checked, and
  the connection goes to exactly those addresses; a socket factory re-checks the address
  right before ``connect()`` as a backstop (Mastodon, Misskey and Advocate check the
  connected address, never the URL string);
- redirects are followed by hand so that every hop is checked again;
- a total deadline covers each request, and bodies are counted after decompression;
- robots.txt (RFC 9309), one request in flight per host, a delay between requests,
  retries with back-off and ``Retry-After``.

Every failure leaves as ``FetchError`` with one of the stable ``code`` strings in
``REASON_CODES`` and a message a volunteer can act on.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import ipaddress
import random
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from crawler import robots as robotslib
from crawler.settings import ACCEPT, PROFILE_TYPES, Settings
from vocab.errors import FetchError

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


def _err(code: str, message: str, *, retryable: bool = False) -> FetchError:
    exc = FetchError(message, code=code)
    exc.retryable = retryable  # read by the retry loop; not part of the public API
    return exc


# --------------------------------------------------------------------------- addresses

_V4_BLOCKED = [(ipaddress.ip_network(n), why) for n, why in (
    ("255.255.255.255/32", "broadcast"),
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (CGNAT, RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (where cloud metadata services live)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
)]
_V6_BLOCKED = [(ipaddress.ip_network(n), why) for n, why in (
    ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
    ("100::/64", "discard-only"),
    ("2001:db8::/32", "documentation"),
    ("2001::/23", "IETF protocol assignments"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "SRv6 segment identifiers (RFC 9602)"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
)]
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_COMPAT = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")


def check_address(ip: str) -> str | None:
    """None if ``ip`` is public unicast, else a plain-English reason ("loopback", ...).

    Written out by hand because Python 3.11's ``is_global`` calls 224.0.0.1,
    64:ff9b::7f00:1 and 2002:7f00:1:: global (CPython gh-113171). IPv6 forms that embed an
    IPv4 address are unwrapped and the IPv4 address is checked.
    """
    try:
        addr = ipaddress.ip_address(str(ip).split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
    except ValueError:
        return "not an IP address"
    if addr.version == 4:
        for net, why in _V4_BLOCKED:
            if addr in net:
                return why
        return None
    if addr == ipaddress.IPv6Address("::"):
        return "unspecified"
    if addr == ipaddress.IPv6Address("::1"):
        return "loopback"
    packed = int(addr)
    embedded: list[tuple[str, ipaddress.IPv4Address]] = []
    if addr in _MAPPED:
        embedded = [("IPv4-mapped", ipaddress.IPv4Address(packed & 0xFFFFFFFF))]
    elif addr in _COMPAT:
        embedded = [("IPv4-compatible", ipaddress.IPv4Address(packed & 0xFFFFFFFF))]
    elif addr in _NAT64:
        embedded = [("NAT64", ipaddress.IPv4Address(packed & 0xFFFFFFFF))]
    elif addr in _SIX_TO_FOUR:
        embedded = [("6to4", ipaddress.IPv4Address((packed >> 80) & 0xFFFFFFFF))]
    elif addr in _TEREDO:
        server, client = addr.teredo
        embedded = [("Teredo", client), ("Teredo server", server)]
    if embedded:
        for form, v4 in embedded:
            why = check_address(str(v4))
            if why:
                return f"{form} {why}"
        return None
    for net, why in _V6_BLOCKED:
        if addr in net:
            return why
    if addr not in _GLOBAL_UNICAST:
        return "reserved (outside 2000::/3 global unicast)"
    return None


# --------------------------------------------------------------------------- URLs

_ASCII_HOST = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def _normalize_host(host: str, url: str) -> str:
    """Lower-case, IDNA-encode and validate a host; numeric IPv4 forms become dotted quads.

    ``0x7f.1``, ``127.1``, ``2130706433`` and ``017700000001`` all mean 127.0.0.1 to
    getaddrinfo (threats.md finding 6); turning them into the dotted quad here (as the WHATWG
    URL parser does) means the literal-address check sees the real address.
    """
    if not host:
        raise FetchError(f"{url!r} has no host name", code="bad_url")
    if "%" in host:
        raise FetchError(f"{url!r} has a percent-encoded host name, which is not allowed", code="bad_url")
    if host.isascii():
        host = host.lower()
    else:
        try:
            import idna  # a dependency of yarl, so always installed with aiohttp

            host = idna.encode(host, uts46=True).decode("ascii")
        except (UnicodeError, ValueError) as exc:  # idna.IDNAError is a UnicodeError
            raise FetchError(f"{url!r} has a host name that is not valid IDNA ({exc})", code="bad_url") from exc
    host = host.rstrip(".") if host.endswith(".") and host != "." else host
    if not host or len(host) > 253 or not _ASCII_HOST.match(host):
        raise FetchError(f"{url!r} has an invalid host name {host!r}", code="bad_url")
    labels = host.split(".")
    if len(labels) <= 4 and all(_NUMERIC_LABEL.match(label) for label in labels):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError as exc:
            raise FetchError(f"{url!r} has a host that looks like an IPv4 address but is not one",
                             code="bad_url") from exc
    return host


def _split(url: str, settings: Settings) -> tuple[str, str, int, str, str]:
    """Parse and validate; return (scheme, host, port, path, query), host IDNA and lower-case."""
    if not isinstance(url, str):
        raise FetchError(f"URL must be a string, not {type(url).__name__}", code="bad_url")
    if len(url) > settings.max_url_length:
        raise FetchError(f"URL is {len(url)} characters long; the limit is {settings.max_url_length}",
                         code="bad_url")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        # NUL, spaces, tabs, newlines and backslashes are read differently by different URL parsers.
        raise FetchError(f"{url!r} contains a space, control character or backslash", code="bad_url")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise FetchError(f"{url!r} is not a valid URL ({exc})", code="bad_url") from exc
    scheme = parts.scheme.lower()
    if not scheme:
        raise FetchError(f"{url!r} is not an absolute URL", code="bad_url")
    if scheme not in settings.allowed_schemes:
        raise FetchError(f"{url!r} uses the {scheme}: scheme; only http and https are fetched", code="bad_scheme")
    netloc = parts.netloc
    if "@" in netloc:
        raise FetchError(f"{url!r} contains a user name or password, which we never send", code="bad_url")
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise FetchError(f"{url!r} has an unclosed IPv6 address", code="bad_url")
        raw_host, rest = netloc[1:end], netloc[end + 1:]
        try:
            addr = ipaddress.IPv6Address(raw_host.replace("%25", "%", 1))
        except ValueError as exc:
            raise FetchError(f"{url!r} has an invalid IPv6 address", code="bad_url") from exc
        host = f"[{addr.compressed.replace('%', '%25', 1)}]"
    else:
        raw_host, colon, port_text = netloc.partition(":")
        rest = colon + port_text
        host = _normalize_host(raw_host, url)
    if rest and not rest.startswith(":"):
        raise FetchError(f"{url!r} has junk after the host name", code="bad_url")
    port_text = rest[1:]
    if port_text:
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise FetchError(f"{url!r} has an invalid port {port_text!r}", code="bad_url")
        port = int(port_text)
    else:
        port = 443 if scheme == "https" else 80
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_PATH_SAFE + "?")
    return scheme, host, port, path, query


def canonical_url(url: str, settings: Settings | None = None) -> str:
    """The one spelling of ``url`` that is fetched, compared and stored.

    Lower-case scheme and host, IDNA host, numeric IPv4 forms as dotted quads, no fragment,
    no default port, non-ASCII path characters percent-encoded. URLs with userinfo, control
    characters, whitespace or backslashes are refused (``bad_url``), as are schemes other
    than http/https (``bad_scheme``) and URLs longer than ``settings.max_url_length``.
    """
    settings = settings or Settings()
    scheme, host, port, path, query = _split(url, settings)
    default = 443 if scheme == "https" else 80
    out = f"{scheme}://{host}{'' if port == default else f':{port}'}{path}{'?' + query if query else ''}"
    if len(out) > settings.max_url_length:
        raise FetchError(f"URL is {len(out)} characters long once normalised; the limit is "
                         f"{settings.max_url_length}", code="bad_url")
    return out


def parse_resolve(spec: str) -> tuple[tuple[str, int], str]:
    """Parse ``HOST:PORT:ADDR`` like ``curl --resolve`` (ADDR may be ``[::1]``).

    Raises ValueError with a message fit for a CLI (click turns it into a usage error).
    """
    example = "e.g. example.org:443:127.0.0.1 or example.org:80:[::1]"
    host, sep1, rest = spec.partition(":")
    port_text, sep2, addr = rest.partition(":")
    if not (sep1 and sep2 and host and port_text and addr):
        raise ValueError(f"--resolve expects HOST:PORT:ADDRESS, {example} (got {spec!r})")
    try:
        host = _normalize_host(host, spec)
    except FetchError as exc:
        raise ValueError(f"--resolve: {exc.message}") from None
    if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
        raise ValueError(f"--resolve: port must be a number from 1 to 65535 (got {port_text!r})")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    try:
        address = ipaddress.ip_address(addr)
    except ValueError:
        raise ValueError(f"--resolve: {addr!r} is not an IP address, {example}") from None
    return (host, int(port_text)), address.compressed


# --------------------------------------------------------------------------- resolving

# Refusals made deep inside aiohttp (resolver, socket factory) are recorded here so that the
# exact FetchError survives aiohttp's wrapping. The list is created per request; tasks that
# aiohttp spawns copy the context and so share it.
_refusals: contextvars.ContextVar[list | None] = contextvars.ContextVar("hubnet_fetch_refusals", default=None)


class _Refused(OSError):
    """Raised inside aiohttp's connection path; an OSError so aiohttp handles it like a failed lookup."""


def _refuse(error: FetchError) -> _Refused:
    bucket = _refusals.get()
    if bucket is not None:
        bucket.append(error)
    return _Refused(error.message)


class StaticResolver(AbstractResolver):
    """A fixed ``{name: address or [addresses]}`` table, for tests and demos.

    Unknown names fail like NXDOMAIN. ``calls`` records each lookup, so a test can show
    one resolution per connection (DNS rebinding, threats.md A6). A value may also be a
    callable returning the addresses, to answer differently on each call.
    """

    def __init__(self, table: dict):
        self.table = {k.lower(): v for k, v in table.items()}
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        self.calls.append(host)
        answer = self.table.get(host.lower())
        if callable(answer):
            answer = answer()
        if not answer:
            raise OSError(socket.EAI_NONAME, f"{host} not found")
        answer = [answer] if isinstance(answer, str) else list(answer)
        return [_result(host, a, port) for a in answer]

    async def close(self) -> None:
        pass


def _result(host: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return {"hostname": host, "host": address, "port": port, "family": family,
            "proto": 0, "flags": socket.AI_NUMERICHOST}


class SafeResolver(AbstractResolver):
    """Resolve once, check every address, hand aiohttp only checked addresses.

    ``settings.resolve`` overrides (curl --resolve) win over the base resolver and are
    checked too. A host with ANY blocked address is refused as a whole (policy decision:
    threats.md A3), so a mixed answer never leads to a connect to either address.
    """

    def __init__(self, settings: Settings, policy: "AddressPolicy", base: AbstractResolver):
        self.settings = settings
        self.policy = policy
        self.base = base
        self.overrides = {(h.lower().rstrip("."), int(p)): a for (h, p), a in settings.resolve.items()}

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        override = self.overrides.get((host.lower().rstrip("."), port))
        if override is not None:
            results = [_result(host, override, port)]
        else:
            try:
                results = await asyncio.wait_for(self.base.resolve(host, port, family=family),
                                                 self.settings.connect_timeout)
            except asyncio.TimeoutError:
                raise _refuse(_err("dns_failed", f"looking up {host} took longer than "
                                                 f"{self.settings.connect_timeout:g} s")) from None
            except OSError as exc:
                raise _refuse(_err("dns_failed", f"could not find the address of {host} ({exc})")) from exc
        if not results:
            raise _refuse(_err("dns_failed", f"{host} has no addresses"))
        for r in results:
            why = self.policy.refusal(r["host"])
            if why:
                shown = ", ".join(x["host"] for x in results)
                raise _refuse(_err("blocked_address", f"{host} resolves to {r['host']}, a {why} address "
                                                      f"(all answers: {shown}); we only fetch from public addresses"))
        return results

    async def close(self) -> None:
        await self.base.close()


class AddressPolicy:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.exceptions = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_private_addresses]

    def refusal(self, ip: str) -> str | None:
        """None if we may connect to ``ip``, else why not."""
        if self.settings.allow_private:
            return None
        try:
            addr = ipaddress.ip_address(str(ip).split("%", 1)[0])
        except ValueError:
            return "unparseable"
        if any(addr.version == n.version and addr in n for n in self.exceptions):
            return None
        return check_address(str(addr))

    def port_allowed(self, port: int) -> bool:
        return self.settings.allow_private or port in self.settings.allowed_ports


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


@dataclass
class _Host:
    """Politeness state for one host name (T12)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_start: float = 0.0       # monotonic time before which no request to it may start
    last_end: float = 0.0         # monotonic time the last request to it ended
    delay: float = 0.0            # per_host_delay, or a larger Crawl-delay
    backed_off_until: float = 0.0  # monotonic; set by a Retry-After longer than max_retry_after


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


class Fetcher:
    """Fetch URLs safely and politely. One per crawl; use ``async with``.

    ``resolver_factory`` returns the aiohttp ``AbstractResolver`` that does the lookups
    (default: getaddrinfo in a thread); the Fetcher wraps it so that overrides and
    address checks always apply.
    """

    def __init__(self, settings: Settings, *, resolver_factory=None):
        self.settings = settings
        self.policy = AddressPolicy(settings)
        self._resolver_factory = resolver_factory or aiohttp.ThreadedResolver
        self._session: aiohttp.ClientSession | None = None
        self._hosts: dict[str, _Host] = {}
        self._robots: dict[tuple, robotslib.RobotsPolicy] = {}
        self._robots_locks: dict[tuple, asyncio.Lock] = {}
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
            resolver = SafeResolver(s, self.policy, self._resolver_factory())
            connector = aiohttp.TCPConnector(
                resolver=resolver,
                use_dns_cache=False,       # one lookup per new connection, no stale answers
                limit=0,                   # concurrency is capped by self._slots instead
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
            self._slots = asyncio.Semaphore(max(1, s.concurrency))
        return self._session

    def _socket_factory(self, addr_info) -> socket.socket:
        """Backstop: the address is checked once more right before connect()."""
        family, type_, proto, _, sockaddr = addr_info
        why = self.policy.refusal(sockaddr[0])
        if why:
            raise _refuse(_err("blocked_address", f"refused to connect to {sockaddr[0]}, a {why} address"))
        return socket.socket(family, type_, proto)

    # ---- public API

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
        """Canonicalise and apply every check possible before any traffic: scheme, userinfo,
        IP-literal address, port. Returns (canonical url, host, port)."""
        canon = canonical_url(url, self.settings)
        scheme, host, port, _, _ = _split(canon, self.settings)
        literal = host[1:-1] if host.startswith("[") else host
        try:
            ipaddress.ip_address(literal.replace("%25", "%", 1))
            is_literal = True
        except ValueError:
            is_literal = False
        if is_literal:
            # aiohttp skips the resolver for IP-literal hosts, so check them here.
            why = self.policy.refusal(literal.replace("%25", "%", 1))
            if why:
                raise FetchError(f"{canon} points at {literal}, a {why} address; we only fetch from "
                                 "public addresses", code="blocked_address")
        if not self.policy.port_allowed(port):
            raise FetchError(f"{canon} uses port {port}; only ports "
                             f"{', '.join(map(str, self.settings.allowed_ports))} are fetched", code="blocked_port")
        return canon, host, port

    async def _fetch(self, url, etag, last_modified, accept, content_types, max_body) -> Response:
        current, host, port = self._target(url)
        headers = {"User-Agent": self.settings.user_agent, "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        redirects: list[str] = []
        while True:
            self._check_backoff(host)
            if self.settings.obey_robots:
                await self._obey_robots(current, host, port)
            try:
                resp = await self._request(current, host, headers, limit=max_body, content_types=content_types)
            except FetchError as exc:
                if redirects:  # say how we got there: the URL the volunteer gave is not the one that failed
                    raise FetchError(f"{exc.message} (reached by redirect from {redirects[0]})", code=exc.code) from None
                raise
            location = resp.headers.get("location")
            if resp.status not in REDIRECT_STATUSES or not location:
                resp.redirects = redirects
                return resp
            if len(redirects) >= self.settings.max_redirects:
                raise FetchError(f"{redirects[0] if redirects else current} redirects more than "
                                 f"{self.settings.max_redirects} times (last hop: {current} -> {location})",
                                 code="too_many_redirects")
            nxt, nhost, nport = self._hop(current, location)
            if nxt == current or nxt in redirects:
                raise FetchError(f"redirect loop: {' -> '.join(redirects + [current, nxt])}", code="redirect_loop")
            redirects.append(current)
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
        origin = (scheme, host, port)
        policy = self._robots.get(origin)
        if policy is None or not policy.fresh():
            lock = self._robots_locks.setdefault(origin, asyncio.Lock())
            async with lock:  # concurrent fetches for one origin share a single robots.txt request
                policy = self._robots.get(origin)
                if policy is None or not policy.fresh():
                    policy = self._robots[origin] = await self._fetch_robots(origin)
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

    async def _fetch_robots(self, origin: tuple) -> robotslib.RobotsPolicy:
        scheme, host, port = origin
        default = 443 if scheme == "https" else 80
        first = f"{scheme}://{host}{'' if port == default else f':{port}'}/robots.txt"
        s = self.settings
        headers = {"User-Agent": s.user_agent, "Accept": "text/plain, */*;q=0.1", "Accept-Encoding": ACCEPT_ENCODING}
        current, chost, hops = first, host, 0
        self.stats["robots_fetches"] += 1
        while True:
            try:
                resp = await self._request(current, chost, headers, limit=s.robots_max_body,
                                           content_types=None, truncate=True)
            except FetchError as exc:
                if exc.code == "backed_off" or (hops == 0 and exc.code in ("blocked_address", "dns_failed")):
                    raise  # the host itself is the problem; say so rather than blame robots.txt
                return robotslib.unreachable(first, exc.message, ttl=min(s.robots_cache_ttl, _ROBOTS_FAILURE_TTL))
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
            return robotslib.policy_for_status(first, resp.status, resp.body, limit=s.robots_max_body, ttl=ttl)

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
        of the next; the total deadline starts only once it is our turn."""
        session = self._open()
        state = self._host(host)
        async with state.lock:
            self._check_backoff(host)
            wait = state.next_start - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            assert self._slots is not None
            async with self._slots:
                self.stats["requests"] += 1
                try:
                    return await asyncio.wait_for(
                        self._send(session, url, headers, limit, content_types, truncate),
                        self.settings.total_timeout)
                except asyncio.TimeoutError:
                    raise FetchError(f"{url} did not finish within the {self.settings.total_timeout:g} s "
                                     "total deadline", code="timeout") from None
                finally:
                    state.last_end = time.monotonic()
                    state.next_start = max(state.next_start, state.last_end + state.delay)

    async def _send(self, session, url, headers, limit, content_types, truncate) -> Response:
        bucket: list[FetchError] = []
        token = _refusals.set(bucket)
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
            if bucket:
                raise bucket[0] from None
            raise _map_error(exc, url) from exc
        finally:
            _refusals.reset(token)

    async def _read(self, resp: aiohttp.ClientResponse, url, limit, content_types, truncate) -> Response:
        hdrs = {k.lower(): v for k, v in resp.headers.items()}
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


def _map_error(exc: BaseException, url: str) -> FetchError:
    """Turn anything aiohttp, asyncio, ssl or the OS raises into a typed FetchError."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return _err("timeout", f"connecting to {url} took longer than the connect timeout")
    if isinstance(exc, aiohttp.ServerTimeoutError) or isinstance(exc, asyncio.TimeoutError):
        return _err("timeout", f"{url} sent nothing for longer than the read timeout")
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return _err("dns_failed", f"could not find the address of {url} ({exc.os_error})")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)):
        return _err("connect_failed", f"TLS to {url} failed ({exc}); the site's certificate or TLS setup "
                                      "needs fixing")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return _err("connect_failed", f"could not connect to {url} ({exc.os_error})", retryable=True)
    if isinstance(exc, aiohttp.ClientPayloadError):
        if "content-encoding" in str(exc).lower():
            return _err("bad_encoding", f"{url} sent a body that is not valid gzip ({exc})")
        return _err("network_error", f"{url} closed the connection before the body was complete ({exc})",
                    retryable=True)
    if isinstance(exc, aiohttp.ClientResponseError):
        if "content-encoding" in str(exc.message).lower():  # e.g. br without Brotli installed
            return _err("bad_encoding", f"{url} was sent with a Content-Encoding we did not ask for ({exc.message})")
        # Our own requests are plain GETs, so a "response error" before any status is the server
        # breaking HTTP: headers over 8 KiB, more than 128 headers, garbage instead of HTTP.
        return _err("network_error", f"{url} sent a response we cannot read ({exc.message})")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
        return _err("network_error", f"connection to {url} failed ({exc})", retryable=True)
    if isinstance(exc, (aiohttp.InvalidURL, ValueError, UnicodeError)):
        return _err("bad_url", f"{url!r} could not be requested ({exc})")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return _err("network_error", f"fetching {url} failed ({type(exc).__name__}: {exc})", retryable=True)
    return _err("network_error", f"fetching {url} failed ({type(exc).__name__}: {exc})")


def fetch_one(url: str, settings: Settings | None = None, **kw) -> Response:
    """Synchronous convenience: one fetch with a fresh Fetcher (CLIs, the /ping handler).

    Uses ``asyncio.run``, so it must not be called from inside a running event loop.
    ``resolver_factory`` is passed to the Fetcher; other keywords go to ``fetch``.
    """
    resolver_factory = kw.pop("resolver_factory", None)

    async def run() -> Response:
        async with Fetcher(settings or Settings(), resolver_factory=resolver_factory) as fetcher:
            return await fetcher.fetch(url, **kw)

    return asyncio.run(run())

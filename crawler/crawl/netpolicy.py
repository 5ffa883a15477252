"""Where the crawler may connect: address checks, URL canonicalisation and the resolvers.

Split from fetch.py so the network policy (docs/threat-model.md T1-T3) can be read on its own:
``check_address`` says why an address is refused, ``canonical_url`` gives the one spelling
of a URL that is fetched and compared, ``check_target`` is the one check made before any
traffic (used by the fetcher for every URL and redirect hop, and by ``POST /ping``), and
``SafeResolver`` resolves each name once, checks every address and hands aiohttp only
checked addresses to connect to.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import re
import socket
from urllib.parse import quote, urlsplit

import idna  # a dependency of yarl, so always installed with aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from hubnet.crawler.settings import Settings
from hubnet.vocab.errors import FetchError

LOOPBACK = "127.0.0.1"


def fetch_error(code: str, message: str, *, retryable: bool = False) -> FetchError:
    """A FetchError with its reason code, marked for the fetcher's retry loop if ``retryable``."""
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


LOCAL_RANGES = ("loopback", "private")   # refusals whose message suggests --allow-private


def public_only(why: str) -> str:
    """The end of a blocked_address message: why, and for a local address how to test with it."""
    if any(word in why for word in LOCAL_RANGES):
        return ("we only fetch from public addresses (to try a group on this computer or your own network, "
                "run the aggregator with --allow-private)")
    return "we only fetch from public addresses"


def is_localhost(host: str) -> bool:
    """``localhost`` and any name under ``.localhost``: this computer, whatever DNS says (RFC 6761 §6.3)."""
    host = host.lower().rstrip(".")
    return host == "localhost" or host.endswith(".localhost")


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
# NUL, spaces, tabs, newlines (every code point up to U+0020), DEL and backslashes.
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_DOTTED = re.compile(r"[0-9.]+")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


def _normalize_host(host: str, url: str) -> str:
    """Lower-case, IDNA-encode and validate a host; numeric IPv4 forms become dotted quads.

    ``0x7f.1``, ``127.1``, ``2130706433`` and ``017700000001`` all mean 127.0.0.1 to
    getaddrinfo (docs/threat-model.md T1); turning them into the dotted quad here (as the WHATWG
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
    if _UNSAFE_URL_CHARS.search(url):
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
    return _canonical(url, settings or Settings())[0]


def _canonical(url: str, settings: Settings) -> tuple[str, str, int]:
    """(canonical URL, host, port); the host keeps its brackets if it is an IPv6 literal."""
    scheme, host, port, path, query = _split(url, settings)
    default = 443 if scheme == "https" else 80
    out = f"{scheme}://{host}{'' if port == default else f':{port}'}{path}{'?' + query if query else ''}"
    if len(out) > settings.max_url_length:
        raise FetchError(f"URL is {len(out)} characters long once normalised; the limit is "
                         f"{settings.max_url_length}", code="bad_url")
    return out, host, port


def literal_address(host: str) -> str | None:
    """The address if ``host`` (as canonicalised: IPv6 in brackets, zone as %25) is an IP literal."""
    literal = (host[1:-1] if host.startswith("[") else host).replace("%25", "%", 1)
    if ":" not in literal and not _DOTTED.fullmatch(literal):
        return None   # neither IPv6 (which has colons) nor IPv4 (digits and dots): a name, without a ValueError
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        return None
    return literal


def check_target(url: str, settings: Settings, policy: "AddressPolicy | None" = None) -> tuple[str, str, int]:
    """Every check possible before any traffic: canonical form (scheme, userinfo, length...),
    IP-literal address, port. Returns (canonical URL, host, port) or raises FetchError
    (``bad_url``, ``bad_scheme``, ``blocked_address``, ``blocked_port``).

    The one pre-check for every door a URL comes in by: the fetcher (each URL and each
    redirect hop) and ``POST /ping``. A refused address also carries ``address`` and
    ``why`` so a door can word the refusal for its audience.
    """
    policy = policy or AddressPolicy(settings)
    canon, host, port = policy.canonical(url) if policy.settings is settings else _canonical(url, settings)
    literal = literal_address(host)
    if literal:
        # aiohttp skips the resolver for IP-literal hosts, so they are checked here.
        why = policy.refusal(literal)
        if why:
            exc = FetchError(f"{canon} points at {literal}, a {why} address; {public_only(why)}",
                             code="blocked_address")
            exc.address, exc.why = literal, why
            raise exc
    if not policy.port_allowed(port):
        local = is_localhost(host) or (literal and "allow-private" in public_only(check_address(literal) or ""))
        raise FetchError(f"{canon} uses port {port}; only ports "
                         f"{', '.join(map(str, settings.allowed_ports))} are fetched"
                         + (" (to try a group on this computer, run the aggregator with --allow-private)"
                            if local else ""), code="blocked_port")
    return canon, host, port


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
refusals: contextvars.ContextVar[list | None] = contextvars.ContextVar("hubnet_fetch_refusals", default=None)


class _Refused(OSError):
    """Raised inside aiohttp's connection path; an OSError so aiohttp handles it like a failed lookup."""


def refuse(error: FetchError) -> _Refused:
    """Record ``error`` for the request in flight and return what to raise inside aiohttp."""
    bucket = refusals.get()
    if bucket is not None:
        bucket.append(error)
    return _Refused(error.message)


class StaticResolver(AbstractResolver):
    """A fixed ``{name: address or [addresses]}`` table, for tests and demos.

    Unknown names fail like NXDOMAIN. ``calls`` records each lookup, so a test can show
    one resolution per name per Fetcher (DNS rebinding, docs/threat-model.md A6). A value may also be a
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
    docs/threat-model.md A3), so a mixed answer never leads to a connect to either address.

    Each name is looked up once per resolver (one Fetcher, one crawl) and every connection
    to it goes to the first checked address: politeness per address (fetch.py) then counts
    the address actually connected to, and a rebinding name cannot move mid-crawl.
    """

    def __init__(self, settings: Settings, policy: "AddressPolicy", base: AbstractResolver):
        self.settings = settings
        self.policy = policy
        self.base = base
        self.overrides = {(h.lower().rstrip("."), int(p)): a for (h, p), a in settings.resolve.items()}
        self._answers: dict[tuple[str, int], list[ResolveResult]] = {}

    def cached(self, host: str, port: int) -> str | None:
        """The address ``host`` was pinned to, if it has been looked up."""
        answer = self._answers.get((host.lower().rstrip("."), port))
        return answer[0]["host"] if answer else None

    async def lookup(self, host: str, port: int) -> str:
        """The checked address ``host`` connects to; FetchError (dns_failed, blocked_address) if none."""
        key = (host.lower().rstrip("."), port)
        answer = self._answers.get(key)
        if answer is None:
            answer = self._answers[key] = [(await self._resolve(host, port))[0]]
        return answer[0]["host"]

    async def _resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        override = self.overrides.get((host.lower().rstrip("."), port))
        if override is None and self.settings.allow_private and is_localhost(host):
            override = LOOPBACK   # as browsers do, so the laptop loop needs no --resolve
        if override is not None:
            results = [_result(host, override, port)]
        else:
            try:
                results = await asyncio.wait_for(self.base.resolve(host, port, family=family),
                                                 self.settings.connect_timeout)
            except asyncio.TimeoutError:
                raise fetch_error("dns_failed", f"looking up {host} took longer than "
                                         f"{self.settings.connect_timeout:g} s") from None
            except OSError as exc:
                hint = ("; names ending in .localhost mean this computer: crawl them with --allow-private"
                        if is_localhost(host) else "")
                raise fetch_error("dns_failed", f"could not find the address of {host} ({exc}){hint}") from exc
        if not results:
            raise fetch_error("dns_failed", f"{host} has no addresses")
        for r in results:
            why = self.policy.refusal(r["host"])
            if why:
                shown = ", ".join(x["host"] for x in results)
                raise fetch_error("blocked_address", f"{host} resolves to {r['host']}, a {why} address "
                                                     f"(all answers: {shown}); {public_only(why)}")
        return results

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_UNSPEC) -> list[ResolveResult]:
        try:
            await self.lookup(host, port)
        except FetchError as exc:
            raise refuse(exc) from exc.__cause__
        return list(self._answers[(host.lower().rstrip("."), port)])

    async def close(self) -> None:
        await self.base.close()


def subnet(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) holding ``ip``: the unit a hosting provider usually gives one machine room."""
    addr = ipaddress.ip_address(str(ip).split("%", 1)[0])
    if addr.version == 6 and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 64}", strict=False))


class AddressPolicy:
    """What one crawl's settings allow. Its answers are pure functions of a URL or an address, asked
    again at every step of a URL's way (queued, scheduled, fetched, connected), so each instance keeps
    the last ``settings.policy_cache_size`` of each (least recently used first out); a refusal
    (FetchError) is never kept, so each caller gets its own."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.exceptions = [ipaddress.ip_network(n, strict=False) for n in settings.allowed_private_addresses]
        size = max(0, settings.policy_cache_size)
        self.refusal = functools.lru_cache(maxsize=size)(self._refusal)
        self.canonical = functools.lru_cache(maxsize=size)(functools.partial(_canonical, settings=settings))
        self.subnet = functools.lru_cache(maxsize=size)(subnet)

    def _refusal(self, ip: str) -> str | None:
        """None if we may connect to ``ip``, else why not (``refusal``, kept)."""
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

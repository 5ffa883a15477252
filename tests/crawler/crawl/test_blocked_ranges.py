"""Every blocked address range at its edges, through every door an address comes in by.

The family (threats.md T1-T3): each range ``crawler.netpolicy`` refuses, IPv4 and IPv6, and
the IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo
client and server). For each range: its first and last address, and the addresses just
outside both edges (allowed unless another range holds them). The doors:

- a name whose resolved answer is the address (``SafeResolver``, what aiohttp connects to),
  and a ``--resolve`` override naming it;
- the address written as the URL's host (the fetcher's literal check, as aiohttp skips the
  resolver for literals), in every IPv4 spelling getaddrinfo would accept;
- the socket factory's backstop right before ``connect()``;
- ``POST /ping`` with the address as the URL's host.

``SPEC`` below is the expected policy written out independently of the code (IANA's
special-purpose registries plus the code's documented choices). The probes come from SPEC
*and* from the code's own tables, so a range added to the code is probed too, and fails
here until SPEC says it is meant. An allowed address must get as far as ``connect()``: the
connect spy records it and refuses, so no packet leaves the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest

from hubnet.crawler.crawl import netpolicy
from hubnet.crawler.crawl.fetch import Fetcher
from hubnet.crawler.crawl.netpolicy import AddressPolicy, SafeResolver, StaticResolver, check_address
from hubnet.crawler.settings import Settings
from hubnet.vocab.errors import FetchError

from fetch_fixtures import ConnectSpy

# --------------------------------------------------------------------------- the expected policy

# Each range with a word its refusal reason must contain (the most specific range names it).
SPEC_V4 = {ip_network(n): why for n, why in (
    ("0.0.0.0/8", "unspecified"), ("10.0.0.0/8", "private"), ("100.64.0.0/10", "CGNAT"),
    ("127.0.0.0/8", "loopback"), ("169.254.0.0/16", "link-local"), ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF"), ("192.0.2.0/24", "documentation"), ("192.88.99.0/24", "6to4 relay"),
    ("192.168.0.0/16", "private"), ("198.18.0.0/15", "benchmarking"), ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"), ("224.0.0.0/4", "multicast"), ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "broadcast"),
)}
SPEC_V6 = {ip_network(n): why for n, why in (
    ("::/128", "unspecified"), ("::1/128", "loopback"), ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard"), ("2001::/23", "IETF"), ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"), ("5f00::/16", "SRv6"), ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"), ("fec0::/10", "site-local"), ("ff00::/8", "multicast"),
)}
GLOBAL_UNICAST = ip_network("2000::/3")  # everything outside it is reserved


def _embedded_v4(addr: IPv6Address) -> list[IPv4Address] | None:
    """The IPv4 addresses an IPv6 form carries (None: not such a form). These are judged by
    what they carry, so a public IPv4 in NAT64 form is public, a private one private."""
    n = int(addr)
    if addr in ip_network("::ffff:0:0/96") or (addr in ip_network("::/96") and n > 1) \
            or addr in ip_network("64:ff9b::/96"):
        return [IPv4Address(n & 0xFFFFFFFF)]
    if addr in ip_network("2002::/16"):
        return [IPv4Address((n >> 80) & 0xFFFFFFFF)]
    if addr in ip_network("2001::/32"):  # Teredo: server in bits 32-63, client inverted in the last 32
        return [IPv4Address((n >> 64) & 0xFFFFFFFF), IPv4Address(~n & 0xFFFFFFFF)]
    return None


def expected_reasons(addr) -> list[str]:
    """Words one of which the refusal must contain; empty if ``addr`` must be allowed."""
    addr = ip_address(addr)
    table = SPEC_V4 if addr.version == 4 else SPEC_V6
    holding = [net for net in table if addr in net]
    if addr.version == 6 and addr not in (IPv6Address("::"), IPv6Address("::1")):
        carried = _embedded_v4(addr)
        if carried is not None:
            return [why for v4 in carried for why in expected_reasons(v4)]
        if not holding and addr not in GLOBAL_UNICAST:
            return ["reserved"]
    return [table[max(holding, key=lambda n: n.prefixlen)]] if holding else []


def expected_blocked(addr) -> bool:
    return bool(expected_reasons(addr))


def reason_matches(addr, why: str | None) -> bool:
    words = expected_reasons(addr)
    return (why is None) if not words else (why is not None and any(w in why for w in words))


# The IPv6 forms that carry an IPv4 address, as functions of that address. Teredo carries two:
# the one probed, and a public 1.1.1.1 in the other place.
_PUBLIC = int(IPv4Address("1.1.1.1"))


def _teredo(server: int, client: int) -> IPv6Address:
    return IPv6Address((0x2001 << 112) | (server << 64) | (~client & 0xFFFFFFFF))


EMBEDDINGS = {
    "IPv4-mapped": lambda v4: IPv6Address((0xFFFF << 32) | int(v4)),
    "IPv4-compatible": lambda v4: IPv6Address(int(v4)),
    "NAT64": lambda v4: IPv6Address((0x64FF9B << 96) | int(v4)),
    "6to4": lambda v4: IPv6Address((0x2002 << 112) | (int(v4) << 80) | 1),
    "Teredo client": lambda v4: _teredo(_PUBLIC, int(v4)),
    "Teredo server": lambda v4: _teredo(int(v4), _PUBLIC),
}


# --------------------------------------------------------------------------- the probes


def _code_networks() -> list:
    """Every network the code's own tables name, so a range added there is probed too."""
    nets = [n for n, _ in netpolicy._V4_BLOCKED] + [n for n, _ in netpolicy._V6_BLOCKED]
    nets += [netpolicy._MAPPED, netpolicy._COMPAT, netpolicy._NAT64, netpolicy._SIX_TO_FOUR, netpolicy._TEREDO]
    # Outside 2000::/3 is reserved: the edges of 2000::/3 are the edges of that rule.
    return nets + [netpolicy._GLOBAL_UNICAST]


ALL_NETS = sorted({*SPEC_V4, *SPEC_V6, *_code_networks(), ip_network("::ffff:0:0/96"), ip_network("64:ff9b::/96"),
                   ip_network("2002::/16"), ip_network("2001::/32")},
                  key=lambda n: (n.version, n.network_address, n.prefixlen))


def edges(net) -> list[tuple[str, object]]:
    """(where, address): first, last, and the neighbours just outside (when the space has them)."""
    top = (1 << net.max_prefixlen) - 1
    first, last = int(net.network_address), int(net.broadcast_address)
    cls = IPv4Address if net.version == 4 else IPv6Address
    out = [("first", cls(first)), ("last", cls(last))]
    if first > 0:
        out.append(("just below", cls(first - 1)))
    if last < top:
        out.append(("just above", cls(last + 1)))
    return out


PROBES = sorted({addr for net in ALL_NETS for _, addr in edges(net)}, key=lambda a: (a.version, int(a)))
V4_PROBES = [a for a in PROBES if a.version == 4]


def test_spec_covers_every_range_of_the_code():
    """A range the code blocks that SPEC does not know fails here first, naming it."""
    for net, why in netpolicy._V4_BLOCKED + netpolicy._V6_BLOCKED:
        for where, addr in edges(net)[:2]:
            assert expected_blocked(addr), f"{net} ({why}) is blocked by the code but not in SPEC: add it"


def test_the_edges_are_not_vacuous():
    """Sanity of the table itself: both verdicts occur, and every SPEC range's own edges are blocked."""
    for net in [*SPEC_V4, *SPEC_V6]:
        assert all(expected_blocked(a) for _, a in edges(net)[:2]), net
    verdicts = [expected_blocked(a) for a in PROBES]
    assert sum(verdicts) > 60 and len(verdicts) - sum(verdicts) > 20


# --------------------------------------------------------------------------- check_address


@pytest.mark.parametrize("net", ALL_NETS, ids=str)
def test_check_address_at_every_edge(net):
    for where, addr in edges(net):
        why = check_address(str(addr))
        assert reason_matches(addr, why), f"{where} of {net}: {addr} -> {why!r}, expected {expected_reasons(addr)}"


@pytest.mark.parametrize("form", sorted(EMBEDDINGS))
@pytest.mark.parametrize("net", list(SPEC_V4), ids=str)
def test_ipv4_ranges_through_every_ipv6_form(net, form):
    """Each IPv4 range, carried inside each IPv6 form, at its edges; the reason names the form."""
    wrap = EMBEDDINGS[form]
    for where, v4 in edges(net):
        addr = wrap(v4)
        why = check_address(str(addr))
        assert reason_matches(v4, why), f"{where} of {net} as {form}: {addr} -> {why!r}"
        if why is not None and int(addr) > 1:  # :: and ::1 have reasons of their own
            assert why.startswith(form.split()[0]), (addr, why)


def test_zone_ids_do_not_hide_an_address():
    for addr in PROBES:
        if addr.version == 6:
            assert reason_matches(addr, check_address(f"{addr}%eth0")), addr


# --------------------------------------------------------------------------- the fetcher's doors


@pytest.fixture
def spy(monkeypatch):
    return ConnectSpy().install(monkeypatch)


def production(**kw) -> Settings:
    """The shipped address policy, with no exceptions; nothing else slows the probe."""
    base = dict(obey_robots=False, retries=0, per_host_delay=0.0, connect_timeout=1.0,
                read_timeout=1.0, total_timeout=2.0)
    base.update(kw)
    return Settings(**base)


def _outcomes(settings: Settings, urls_and_answers: list[tuple[str, str | None]], spy: ConnectSpy) -> list:
    """Fetch each URL (name answers from a StaticResolver) on one Fetcher; per URL return
    ("refused", message) when the policy refused it before any connect, or ("connected", address)
    when the fetcher got as far as connect() (the spy refuses it there)."""
    table = {f"probe{i}.test": answer for i, (_, answer) in enumerate(urls_and_answers) if answer}
    resolver = StaticResolver(table)

    async def go():
        results = []
        async with Fetcher(settings, resolver_factory=lambda: resolver) as f:
            for url, _ in urls_and_answers:
                before = len(spy.calls)
                try:
                    await f.fetch(url)
                except FetchError as exc:
                    if exc.code == "blocked_address":
                        assert len(spy.calls) == before, f"{url}: refused only after a connect"
                        results.append(("refused", exc.message))
                        continue
                    assert exc.code == "connect_failed", (url, exc.code, exc.message)
                    results.append(("connected", spy.calls[before:]))
                    continue
                raise AssertionError(f"{url} was fetched: the spy lets nothing through")
        return results

    return asyncio.run(go())


def _literal_host(addr) -> str:
    return f"[{addr}]" if addr.version == 6 else str(addr)


@pytest.mark.parametrize("version", [4, 6])
def test_resolved_answers_at_every_edge_through_the_fetcher(version, spy):
    """A name whose only answer is the probe: blocked ones never reach connect(), allowed ones do,
    to exactly that address."""
    probes = [a for a in PROBES if a.version == version]
    cases = [(f"http://probe{i}.test/p", str(a)) for i, a in enumerate(probes)]
    for addr, (kind, detail) in zip(probes, _outcomes(production(), cases, spy)):
        if expected_blocked(addr):
            assert kind == "refused" and f"resolves to {addr}" in detail, (addr, detail)
            assert "public addresses" in detail, (addr, detail)
        else:
            assert kind == "connected" and [ip_address(c[0]) for c in detail] == [addr], (addr, kind, detail)


@pytest.mark.parametrize("version", [4, 6])
def test_resolve_overrides_at_every_edge_through_the_fetcher(version, spy):
    """--resolve HOST:PORT:ADDR (settings.resolve) bypasses the resolver but not the check."""
    probes = [a for a in PROBES if a.version == version]
    settings = production(resolve={(f"probe{i}.test", 80): str(a) for i, a in enumerate(probes)})
    cases = [(f"http://probe{i}.test/p", None) for i in range(len(probes))]
    for addr, (kind, detail) in zip(probes, _outcomes(settings, cases, spy)):
        if expected_blocked(addr):
            # refused by the resolver's own check, not only by the socket backstop behind it
            assert kind == "refused" and f"resolves to {addr}" in detail, (addr, detail)
        else:
            assert kind == "connected" and [ip_address(c[0]) for c in detail] == [addr], (addr, kind, detail)


@pytest.mark.parametrize("version", [4, 6])
def test_literal_hosts_at_every_edge_through_the_fetcher(version, spy):
    probes = [a for a in PROBES if a.version == version]
    cases = [(f"http://{_literal_host(a)}/p", None) for a in probes]
    for addr, (kind, detail) in zip(probes, _outcomes(production(), cases, spy)):
        if expected_blocked(addr):
            # Refused by the literal check itself (aiohttp never asks the resolver for a literal),
            # not only by the socket backstop: the message is the one a volunteer sees.
            assert kind == "refused" and "we only fetch from public addresses" in detail, (addr, detail)
            assert any(w in detail for w in expected_reasons(addr)), (addr, detail)
        else:
            assert kind == "connected" and [ip_address(c[0]) for c in detail] == [addr], (addr, kind, detail)


def _v4_spellings(addr: IPv4Address) -> list[str]:
    """The spellings of one IPv4 address that getaddrinfo accepts (threats.md finding 6)."""
    n, parts = int(addr), addr.packed
    return [str(n), hex(n), "0" + oct(n)[2:], f"{parts[0]}.{int.from_bytes(parts[1:], 'big')}",
            ".".join(hex(p) for p in parts), f"{parts[0]}.{parts[1]}.{int.from_bytes(parts[2:], 'big')}"]


def test_every_ipv4_edge_in_every_numeric_spelling_through_the_fetcher(spy):
    cases, expected = [], []
    for addr in V4_PROBES:
        for spelling in _v4_spellings(addr):
            cases.append((f"http://{spelling}/p", None))
            expected.append((addr, spelling))
    for (addr, spelling), (kind, detail) in zip(expected, _outcomes(production(), cases, spy)):
        assert (kind == "refused") == expected_blocked(addr), (addr, spelling, kind, detail)
        if kind == "connected":
            assert [ip_address(c[0]) for c in detail] == [addr], (spelling, detail)


@pytest.mark.parametrize("form", sorted(EMBEDDINGS))
def test_ipv4_edges_in_ipv6_forms_through_the_resolver_and_literal(form, spy):
    wrap = EMBEDDINGS[form]
    probes = [(v4, wrap(v4)) for v4 in V4_PROBES]
    resolved = [(f"http://probe{i}.test/p", str(a)) for i, (_, a) in enumerate(probes)]
    literal = [(f"http://[{a}]/p", None) for _, a in probes]
    for cases in (resolved, literal):
        for (v4, addr), (kind, detail) in zip(probes, _outcomes(production(), cases, spy)):
            assert (kind == "refused") == expected_blocked(v4), (form, v4, addr, kind, detail)


def test_one_blocked_answer_among_public_ones_refuses_the_name(spy):
    """A3 over the family: a public answer never carries a blocked one along with it."""
    public = "1.1.1.1"
    cases = [(f"http://probe{i}.test/p", [public, str(a)]) for i, a in enumerate(PROBES) if expected_blocked(a)]
    resolver = StaticResolver({f"probe{i}.test": answer for i, (_, answer) in enumerate(cases)})
    s = production()

    async def go():
        safe = SafeResolver(s, AddressPolicy(s), resolver)
        for i, (_, answer) in enumerate(cases):
            with pytest.raises(OSError, match="we only fetch from public addresses"):
                await safe.resolve(f"probe{i}.test", 80)

    asyncio.run(go())
    assert spy.calls == []


def test_socket_backstop_at_every_edge():
    """The last check before connect(): the same verdict even if the resolver were bypassed."""
    fetcher = Fetcher(production())
    for addr in PROBES:
        family = socket.AF_INET if addr.version == 4 else socket.AF_INET6
        info = (family, socket.SOCK_STREAM, 0, "", (str(addr), 80) + ((0, 0) if addr.version == 6 else ()))
        if expected_blocked(addr):
            with pytest.raises(OSError, match="refused to connect"):
                fetcher._socket_factory(info)
        else:
            fetcher._socket_factory(info).close()


# --------------------------------------------------------------------------- allow_private and exceptions


def test_allow_private_lifts_every_range(spy):
    """--allow-private lifts the address rules entirely (docs/crawler.md): nothing stays blocked."""
    cases = [(f"http://probe{i}.test/p", str(a)) for i, a in enumerate(PROBES)]
    for addr, (kind, detail) in zip(PROBES, _outcomes(production(allow_private=True), cases, spy)):
        assert kind == "connected" and [ip_address(c[0]) for c in detail] == [addr], (addr, detail)


@pytest.mark.parametrize("net", [*SPEC_V4, *SPEC_V6], ids=str)
def test_an_operator_exception_opens_exactly_its_network(net):
    """allowed_private_addresses=(net,) opens net's first and last address, and nothing beside it."""
    policy = AddressPolicy(production(allowed_private_addresses=(str(net),)))
    for where, addr in edges(net):
        inside = addr in net
        assert (policy.refusal(str(addr)) is None) == (inside or not expected_blocked(addr)), (where, net, addr)


# --------------------------------------------------------------------------- POST /ping


@pytest.fixture(scope="module")
def ping_client(tmp_path_factory):
    from hubnet.crawler.web import create_app

    app = create_app({"STORE": str(tmp_path_factory.mktemp("store") / "s"), "CRAWL_SETTINGS": production(),
                      "QUERY_WORKERS": 1, "TESTING": True, "BACKGROUND": False, "PING_LIMIT": "100000 per minute"})
    yield app.test_client()
    app.extensions["hubnet"].close()


def _ping(client, url: str):
    resp = client.post("/ping", data={"url": url})
    return resp.status_code, resp.get_json()


@pytest.mark.parametrize("version", [4, 6])
def test_ping_with_an_address_literal_at_every_edge(ping_client, version):
    for addr in (a for a in PROBES if a.version == version):
        status, body = _ping(ping_client, f"http://{_literal_host(addr)}/")
        if expected_blocked(addr):
            assert status == 400 and body["error"]["code"] == "bad_url", (addr, body)
            assert "only public addresses are crawled" in body["error"]["message"], (addr, body)
        else:
            assert status == 202 and body["ok"], (addr, body)


def test_ping_with_every_ipv4_spelling_and_ipv6_form(ping_client):
    for addr in V4_PROBES:
        urls = [f"http://{s}/" for s in _v4_spellings(addr)]
        urls += [f"http://[{wrap(addr)}]/" for wrap in EMBEDDINGS.values()]
        for url in urls:
            status, body = _ping(ping_client, url)
            assert (status == 400) == expected_blocked(addr), (url, status, body)
            assert status in (202, 400), (url, status, body)


def test_ping_refusals_queue_nothing(tmp_path):
    """A refused ping leaves no trace: nothing pending, so no failed source record later."""
    from hubnet.crawler.web import create_app

    app = create_app({"STORE": str(tmp_path / "s"), "CRAWL_SETTINGS": production(), "QUERY_WORKERS": 1,
                      "TESTING": True, "BACKGROUND": False, "PING_LIMIT": "100000 per minute"})
    try:
        client, hub = app.test_client(), app.extensions["hubnet"]
        for addr in PROBES:
            if expected_blocked(addr):
                assert _ping(client, f"http://{_literal_host(addr)}/")[0] == 400
        assert hub.background.status()["pending_pings"] == 0
    finally:
        app.extensions["hubnet"].close()


def test_ipaddress_module_agrees_on_the_probe_arithmetic():
    # The probes are built by integer arithmetic; make sure they are what they claim.
    assert edges(ip_network("100.64.0.0/10")) == [
        ("first", ipaddress.IPv4Address("100.64.0.0")), ("last", ipaddress.IPv4Address("100.127.255.255")),
        ("just below", ipaddress.IPv4Address("100.63.255.255")), ("just above", ipaddress.IPv4Address("100.128.0.0"))]
    assert EMBEDDINGS["Teredo client"](IPv4Address("192.0.2.45")).teredo == (IPv4Address("1.1.1.1"),
                                                                            IPv4Address("192.0.2.45"))
    assert EMBEDDINGS["6to4"](IPv4Address("10.0.0.1")).sixtofour == IPv4Address("10.0.0.1")

"""The event loop's policy answers, kept and short-cut (issue 18): the same answers, over each rule's family.

- The characters a URL may not hold (every code point up to U+0020, DEL, the backslash), now found by
  one regular expression, and their neighbours: refused (``bad_url``) by ``canonical_url``, by
  ``check_target`` on a policy that keeps its answers, and as crawl seeds, with no request made.
- Which hosts are IP literals (``literal_address``, ``frontier.registrable_domain``), now with a
  quick "no" for names: every edge of every blocked range written as a literal, and near-misses,
  against ``ipaddress`` as the code asked it before.
- ``AddressPolicy`` keeps its answers (``Settings.policy_cache_size``, least recently used first
  out): every edge of every range, at cache sizes 0, 1, 2 and the default, asked in three orders,
  gives the answer worked out afresh; a refusal is raised anew each time; no cache grows past its size.
- ``extract.crosses_paths`` takes a subject written as the document's own URL up to its first ``#``
  then ``#`` as in the document's own path without a look: against the per-subject rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
from ipaddress import IPv4Address, IPv6Address, ip_network

import pytest

from hubnet.crawler.crawl import netpolicy
from hubnet.crawler.crawl.crawler import FAILURE, Crawler
from hubnet.crawler.crawl.extract import Parsed, crosses_paths
from hubnet.crawler.crawl.fetch import Fetcher
from hubnet.crawler.crawl.frontier import registrable_domain
from hubnet.crawler.crawl.netpolicy import AddressPolicy, canonical_url, check_address, check_target, literal_address
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.vocab.authority import scope
from hubnet.vocab.errors import FetchError

# --------------------------------------------------------------------------- the families

UNSAFE = [chr(c) for c in range(0x21)] + ["\x7f", "\\"]
# Just outside the rule: allowed by this check (other rules may still refuse or encode them).
NEIGHBOURS = ["!", "~", "\x80", "\x85", "\xa0", "\u2028", "\u3000", "\ufeff", "%", "|"]


def ref_unsafe(url: str) -> bool:
    """The rule as the code wrote it before (a generator over every character)."""
    return any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url


def urls_with(c: str) -> list[str]:
    """``c`` in every part of a URL, and at both ends."""
    return [f"http://exa{c}mple.org/", f"http://example.org/a{c}b", f"http://example.org/p?q={c}",
            f"http://example.org/p#{c}", f"{c}http://example.org/", f"http://example.org/{c}",
            f"http://example.org:80{c}/", f"http{c}://example.org/"]


def _nets() -> list:
    nets = [n for n, _ in netpolicy._V4_BLOCKED] + [n for n, _ in netpolicy._V6_BLOCKED]
    return nets + [netpolicy._MAPPED, netpolicy._COMPAT, netpolicy._NAT64, netpolicy._SIX_TO_FOUR,
                   netpolicy._TEREDO, netpolicy._GLOBAL_UNICAST, ip_network("::/128"), ip_network("::1/128")]


def _edges(net) -> list:
    cls = IPv4Address if net.version == 4 else IPv6Address
    first, last, top = int(net.network_address), int(net.broadcast_address), (1 << net.max_prefixlen) - 1
    return [cls(first), cls(last)] + ([cls(first - 1)] if first else []) + ([cls(last + 1)] if last < top else [])


PROBES = sorted({a for net in _nets() for a in _edges(net)}, key=lambda a: (a.version, int(a)))
NEAR_MISSES = ["1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", "1.2.3.4.", ".1.2.3.4", "a.b.c.d", "1.2.3.4a",
               "1.2.3.4%25eth0", "[::1", "::1]", "::1", "[1.2.3.4]", "", ".", "..", "0", "١.٢.٣.٤", "1..2.3",
               "g00012.bench.test", "xn--bcher-kva.test", "a.test.", "[::1]", "[fe80::1%25lo]", "[::1%25]",
               "[v1.x]", "deadbeef", "cafe.babe", "12345", "1e3.2.3.4"]


def literal_hosts() -> list[str]:
    hosts = list(NEAR_MISSES)
    for a in PROBES:
        hosts += [str(a)] if a.version == 4 else [f"[{a}]", f"[{a}%25eth0]", str(a)]
    return hosts


def ref_literal_address(host: str) -> str | None:
    literal = (host[1:-1] if host.startswith("[") else host).replace("%25", "%", 1)
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        return None
    return literal


def ref_registrable_domain(host: str) -> str:
    from hubnet.crawler.crawl.frontier import _PSL

    host = host.strip("[]").rstrip(".").lower()
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return host
    except ValueError:
        pass
    return _PSL.privatesuffix(host) or host


def ref_refusal(settings: Settings, ip: str) -> str | None:
    """AddressPolicy.refusal as it was, working everything out each time."""
    if settings.allow_private:
        return None
    try:
        addr = ipaddress.ip_address(str(ip).split("%", 1)[0])
    except ValueError:
        return "unparseable"
    exceptions = [ip_network(n, strict=False) for n in settings.allowed_private_addresses]
    if any(addr.version == n.version and addr in n for n in exceptions):
        return None
    return check_address(str(addr))


def answer(fn, *args):
    try:
        return ("ok", fn(*args))
    except FetchError as exc:
        return ("refused", exc.code, exc.message)


# --------------------------------------------------------------------------- unsafe characters

@pytest.mark.parametrize("c", UNSAFE + NEIGHBOURS, ids=lambda c: f"U+{ord(c):04X}")
def test_unsafe_characters_in_every_part_of_a_url(c):
    for url in urls_with(c):
        got = answer(canonical_url, url)
        if ref_unsafe(url):
            assert got[:2] == ("refused", "bad_url") and "control character or backslash" in got[2], (url, got)
        else:
            assert "control character or backslash" not in str(got), (url, got)


def test_unsafe_characters_as_crawl_seeds_fetch_nothing(fed, tmp_path):
    """Through the crawler's door: each seed holding a refused character fails with bad_url (twice
    when given twice: a refusal is never kept), and no request reaches the site; the neighbours
    are fetched."""
    fed.put_profile("victim.test", "Victim Tenants' Association", path="/")
    base = fed.url("victim.test")
    bad = [f"{base}a{c}b" for c in UNSAFE]
    good = [f"{base}n{k}{c}" for k, c in enumerate(NEIGHBOURS) if c != "%"]
    store = Store(tmp_path / "store")
    try:
        crawler = Crawler(store, fed.settings("victim.test"))
        summary = crawler.crawl(bad + bad + good + [base])
    finally:
        store.close()
    refused = [o for o in summary.outcomes if o.url in bad]
    assert len(refused) == 2 * len(bad) and {(o.result, o.code) for o in refused} == {(FAILURE, "bad_url")}
    asked = {path for _host, path, *_ in fed.requests_to("victim.test")}
    assert not any(c in p for p in asked for c in UNSAFE), asked
    assert len([p for p in asked if p.startswith("/n")]) == len(good)   # the neighbours were asked for


@pytest.mark.parametrize("size", [0, 1, 2, None])
def test_kept_canonical_forms_answer_as_worked_out_afresh(size):
    """check_target on one policy (its canonical forms kept) against the canonical form worked out
    each time, for the whole character family and the canonicalisation table, three times over."""
    settings = Settings() if size is None else Settings(policy_cache_size=size)
    policy = AddressPolicy(settings)
    urls = [u for c in UNSAFE + NEIGHBOURS for u in urls_with(c)] + [
        "HTTP://Example.ORG:80/a?b=1#frag", "https://example.org:443", "http://ｅｖｉｌ.test/", "http://bücher.test/ä",
        "http://0x7f.1/", "http://2130706433/", "http://[::FFFF:127.0.0.1]/", "http://user@example.org/",
        "file:///etc/passwd", "http://example.org:99999/", "http://[::1/", "", "http://a..b/",
        "http://example.org/" + "a" * 3000, "https://example.org:8443/x", "http://93.184.216.34/"]
    for order in (urls, urls[::-1], urls):
        for url in order:
            fresh = answer(netpolicy._canonical, url, settings)
            assert answer(policy.canonical, url) == fresh, url
            if fresh[0] == "ok":
                assert answer(check_target, url, settings, policy)[:2] == answer(check_target, url, settings)[:2]
    assert policy.canonical.cache_info().currsize <= settings.policy_cache_size


# --------------------------------------------------------------------------- literals and addresses

def test_literal_address_and_registrable_domain_against_ipaddress():
    for host in literal_hosts():
        assert literal_address(host) == ref_literal_address(host), host
        assert registrable_domain(host) == ref_registrable_domain(host), host


@pytest.mark.parametrize("size", [0, 1, 2, None])
@pytest.mark.parametrize("exceptions", [(), ("127.0.0.0/8", "fd00::/8")])
def test_kept_address_answers_at_every_edge(size, exceptions):
    settings = Settings(allowed_private_addresses=exceptions, **({} if size is None else {"policy_cache_size": size}))
    policy = AddressPolicy(settings)
    probes = [str(a) for a in PROBES] + [f"{a}%eth0" for a in PROBES if a.version == 6] + ["not-an-ip", ""]
    for order in (probes, probes[::-1], probes):
        for ip in order:
            assert policy.refusal(ip) == ref_refusal(settings, ip), ip
    for a in PROBES:
        assert policy.subnet(str(a)) == netpolicy.subnet(str(a))
    for cached in (policy.refusal, policy.canonical, policy.subnet):
        assert cached.cache_info().currsize <= settings.policy_cache_size
    assert sum(ref_refusal(settings, str(a)) is None for a in PROBES) > 20    # both verdicts occur
    assert sum(ref_refusal(settings, str(a)) is not None for a in PROBES) > 60


def test_kept_refusals_through_the_fetcher_at_every_edge(monkeypatch):
    """One Fetcher (one policy, a kept answer per address, cache of 1 so each is pushed out again)
    refuses every blocked edge written as the URL's host, every time, before any connect."""
    from fetch_fixtures import ConnectSpy

    spy = ConnectSpy().install(monkeypatch)
    settings = Settings(obey_robots=False, retries=0, per_host_delay=0.0, connect_timeout=1.0, read_timeout=1.0,
                        total_timeout=2.0, policy_cache_size=1)
    blocked = [a for a in PROBES if check_address(str(a))]

    async def go():
        codes = []
        async with Fetcher(settings) as f:
            for _ in range(2):
                for a in blocked:
                    host = f"[{a}]" if a.version == 6 else str(a)
                    try:
                        await f.fetch(f"http://{host}/p")
                    except FetchError as exc:
                        codes.append(exc.code)
        return codes

    assert asyncio.run(go()) == ["blocked_address"] * (2 * len(blocked))
    assert spy.calls == []


# --------------------------------------------------------------------------- crosses_paths

H = "https://host.example"
DOCUMENTS = [f"{H}/", f"{H}/a/", f"{H}/a/p.jsonld", f"{H}/a/p?x=1", f"{H}/a/p?x=/b/", f"{H}/a/p#frag",
             f"{H}/a/../b/p", f"{H}/a%2fb/p", H, "http://host.example:8080/a/p", f"{H}/a/p?q#f#g",
             f"{H}/a/\tp", f" {H}/a/p", f"{H}/a\\b/p", "not a url", "", f"{H}/a/p?#", "http://[::1/a/p"]


def subjects_for(document_url: str) -> list[str]:
    own = document_url.split("#", 1)[0]
    return [f"{own}#_b1", f"{own}#group", f"{own}#", f"{own}#/../../b/", f"{own}#%2f", f"{own}##x",
            f"{own}?#x", f"{own}x#y", f"{own}/#z", f"{own}b/#z", f"{own}/../../b/#z", f"{own}%2e%2e/#z",
            f"{H}/a/#group", f"{H}/b/#group", f"{H}/#group", f"{H}/a/p"]


def _parsed(subjects) -> Parsed:
    """Statements about ``subjects``, as terms that may hold any text (tabs, spaces...): the shortcut's
    argument is about urlsplit on any string, not only on the IRIs pyoxigraph lets through."""
    class Term:
        def __init__(self, value):
            self.value = value

    class Statement:
        def __init__(self, subject):
            self.subject = Term(subject)

    return Parsed(triples=[Statement(s) for s in subjects], groups=[], dropped_foreign=0, links=[], content_hash="")


@pytest.mark.parametrize("document_url", DOCUMENTS)
def test_crosses_paths_same_document_shortcut(document_url):
    def ref(subjects):
        own = scope(document_url)
        return any(scope(s) != own for s in subjects)

    subjects = subjects_for(document_url)
    for s in subjects:
        assert crosses_paths(_parsed([s]), document_url) is ref([s]), s
        assert crosses_paths(_parsed([subjects[0], s]), document_url) is ref([subjects[0], s]), s
    assert crosses_paths(_parsed(subjects), document_url) is ref(subjects)
    assert any(ref([s]) for s in subjects) and not all(ref([s]) for s in subjects) or scope(document_url) is None

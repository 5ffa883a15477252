"""hubnet.crawler.crawl.fetch: the one safe, polite fetcher (threats.md §5 cases A1-A12, B1-B10, E1-E7).

All traffic stays on 127.0.0.1: fixture servers bind there on port 0, fake names
(evil.test, a.test...) are mapped through a fake resolver or ``settings.resolve``, and an
autouse connect spy refuses (and fails the test on) any connect to another address.

"Blocked" tests run with ``allow_private=False`` and only 127.0.0.1 excepted
(``allowed_private_addresses``), so 127.0.0.2, 10/8, 169.254/16 ... must be refused before
any connect; positive tests use ``allow_private=True``. Timeouts and delays are shrunk
through Settings so the file stays fast.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import os
import shutil
import ssl
import subprocess
import time
import tracemalloc

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from hubnet.crawler.crawl.fetch import REASON_CODES, Fetcher, Response, parse_retry_after
from hubnet.crawler.crawl.netpolicy import (
    AddressPolicy,
    SafeResolver,
    StaticResolver,
    canonical_url,
    check_address,
    parse_resolve,
)
from hubnet.crawler.crawl.robots import RobotsCache, unreachable
from hubnet.crawler.settings import Settings
from hubnet.vocab.errors import FetchError

from fetch_fixtures import ConnectSpy, Loopback, client_sockets, read_request, wait_closed

JSONLD = {"Content-Type": "application/ld+json"}
PROFILE = '{"@id": "p"}'


# --------------------------------------------------------------------------- harness


@pytest.fixture(scope="module")
def loopback():
    lb = Loopback()
    yield lb
    lb.close()


@pytest.fixture
def serve(loopback):
    yield loopback
    loopback.stop_all()


@pytest.fixture(autouse=True)
def spy(monkeypatch):
    s = ConnectSpy().install(monkeypatch)
    yield s
    assert not s.foreign, f"connect attempted to a non-fixture address: {s.foreign}"


def open_settings(port: int | None = None, *names: str, **kw) -> Settings:
    """allow_private=True (loopback fixtures reachable), fast timeouts, no robots, no delay."""
    base = dict(allow_private=True, obey_robots=False, per_host_delay=0.0, retries=0, retry_backoff=0.01,
                connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0, max_retry_after=5.0,
                resolve={(n, port): "127.0.0.1" for n in names})
    base.update(kw)
    return Settings(**base)


def strict_settings(port: int | None = None, *names: str, **kw) -> Settings:
    """Production address policy, except 127.0.0.1 and the fixture port are allowed."""
    kw.setdefault("allow_private", False)
    kw.setdefault("allowed_private_addresses", ("127.0.0.1/32",))
    kw.setdefault("allowed_ports", (80, 443) + ((port,) if port else ()))
    return open_settings(port, *names, **kw)


def fetch(url, settings, resolver=None, **kw) -> Response:
    async def go():
        async with Fetcher(settings, resolver_factory=(lambda: resolver) if resolver else None) as f:
            return await f.fetch(url, **kw)
    return asyncio.run(go())


def refused(url, settings, resolver=None, **kw) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, settings, resolver, **kw)
    assert info.value.code in REASON_CODES
    return info.value


def run_with(settings, coro_fn, resolver=None):
    """Run ``coro_fn(fetcher)`` on one Fetcher and return (result, fetcher)."""
    async def go():
        async with Fetcher(settings, resolver_factory=(lambda: resolver) if resolver else None) as f:
            return await coro_fn(f), f
    return asyncio.run(go())


# --------------------------------------------------------------------------- addresses (T1/T2)


@pytest.mark.parametrize("ip, reason", [
    ("127.0.0.1", "loopback"), ("127.0.0.2", "loopback"), ("10.0.0.1", "private (RFC 1918)"),
    ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("100.64.0.1", "CGNAT"), ("224.0.0.1", "multicast"), ("0.0.0.0", "unspecified"),
    ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"), ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"), ("::1", "loopback"), ("::", "unspecified"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"), ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::127.0.0.1", "IPv4-compatible loopback"), ("64:ff9b::7f00:1", "NAT64 loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 link-local"), ("64:ff9b:1::1", "local-use NAT64"),
    ("2002:7f00:1::", "6to4 loopback"), ("2002:a00:1::1", "6to4 private"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo documentation"),  # RFC 4380's example, client 192.0.2.45
    ("fd00::1", "unique local"), ("fc00::1", "unique local"), ("fe80::1", "link-local"),
    ("fe80::1%lo", "link-local"), ("ff02::1", "multicast"), ("2001:db8::1", "documentation"),
    ("fec0::1", "site-local"), ("100::1", "discard"), ("4000::1", "reserved"),
])
def test_check_address_blocks(ip, reason):
    why = check_address(ip)
    assert why is not None and reason in why


@pytest.mark.parametrize("ip", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_check_address_allows_public_unicast(ip):
    assert check_address(ip) is None


def test_check_address_beats_is_global():
    # threats.md finding 6: Python 3.11's is_global calls these global; we must not.
    for ip in ("224.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::", "100.64.0.1"):
        assert check_address(ip)


# --------------------------------------------------------------------------- URLs


@pytest.mark.parametrize("url, expected", [
    ("HTTP://Example.ORG:80/a?b=1#frag", "http://example.org/a?b=1"),
    ("https://example.org:443", "https://example.org/"),
    ("https://example.org:8443/x", "https://example.org:8443/x"),
    ("http://example.org./p", "http://example.org/p"),
    ("http://ｅｖｉｌ.test/", "http://evil.test/"),  # A12: full-width letters, IDNA-mapped
    ("http://bücher.test/ä", "http://xn--bcher-kva.test/%C3%A4"),
    ("http://0x7f.1/", "http://127.0.0.1/"), ("http://127.1/", "http://127.0.0.1/"),
    ("http://2130706433/", "http://127.0.0.1/"), ("http://017700000001/", "http://127.0.0.1/"),
    ("http://[::FFFF:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


@pytest.mark.parametrize("url, code", [
    ("file:///etc/passwd", "bad_scheme"), ("gopher://example.org/", "bad_scheme"), ("ftp://x/", "bad_scheme"),
    ("http://user:pw@example.org/", "bad_url"), ("http://evil.test%00.ok.test/", "bad_url"),
    ("http://evil.test\x00.ok.test/", "bad_url"), ("http://exa mple.org/", "bad_url"),
    ("http://example.org/\r\nX: y", "bad_url"), ("http://example.org\\@127.0.0.2/", "bad_url"),
    ("http://example.org:99999/", "bad_url"), ("http://example.org:0/", "bad_url"),
    ("http://[::1/", "bad_url"), ("//example.org/", "bad_url"), ("", "bad_url"),
    ("http://999.1.1.1/", "bad_url"), ("http://a..b/", "bad_url"),
    ("http://example.org/" + "a" * 3000, "bad_url"),
])
def test_canonical_url_refuses(url, code):
    with pytest.raises(FetchError) as info:
        canonical_url(url)
    assert info.value.code == code


def test_parse_resolve():
    assert parse_resolve("Example.ORG:443:127.0.0.1") == (("example.org", 443), "127.0.0.1")
    assert parse_resolve("a.test:8080:[::1]") == (("a.test", 8080), "::1")
    for bad in ("a.test:80", "a.test:http:127.0.0.1", "a.test:80:not-an-ip", "a.test:0:1.2.3.4", "::"):
        with pytest.raises(ValueError, match="--resolve"):
            parse_resolve(bad)


def test_parse_retry_after():
    assert parse_retry_after("120") == 120
    now = time.time()
    assert 55 < parse_retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now + 60))) <= 61
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None and parse_retry_after("-1") is None


# --------------------------------------------------------------------------- A: SSRF


@pytest.mark.parametrize("host", [
    "127.0.0.2:8080", "2130706433", "0x7f.1", "127.1", "017700000001", "[::ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::]", "0.0.0.0", "224.0.0.1", "100.64.0.1",
    "[fe80::1%25lo]", "[fd00::1]", "169.254.169.254", "10.0.0.1", "[::1]",
])
def test_a1_a4_a5_literal_hosts_blocked_before_connect(host, spy):
    # Production policy with no exceptions; obey_robots=True: the refusal must come before
    # even robots.txt is asked for.
    err = refused(f"http://{host}/p", strict_settings(obey_robots=True, allowed_private_addresses=()))
    assert err.code == "blocked_address"
    assert "public" in err.message
    assert spy.calls == []


@pytest.mark.parametrize("answer", ["169.254.169.254", "10.0.0.1", "127.0.0.2", "fd00::1", "::ffff:127.0.0.1",
                                    "64:ff9b::a00:1", "0.0.0.0", "::1"])
def test_a2_name_resolving_to_blocked_address(answer, spy, serve):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    resolver = StaticResolver({"evil.test": answer})
    err = refused(f"http://evil.test:{site.port}/p", strict_settings(site.port, obey_robots=True), resolver)
    assert err.code == "blocked_address" and answer in err.message
    assert resolver.calls == ["evil.test"]
    assert spy.calls == [] and site.log == []


def test_a2_settings_resolve_is_checked_too(spy):
    # --resolve works without allow_private, but its address is still checked.
    s = strict_settings(resolve={("evil.test", 80): "169.254.169.254"})
    assert refused("http://evil.test/latest/meta-data/", s).code == "blocked_address"
    assert spy.calls == []


@pytest.mark.parametrize("answers", [["10.0.0.1", "127.0.0.1"], ["127.0.0.1", "10.0.0.1"]])
def test_a3_mixed_answer_refuses_whole_host(answers, spy, serve):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    err = refused(f"http://mixed.test:{site.port}/p", strict_settings(site.port),
                  StaticResolver({"mixed.test": answers}))
    assert err.code == "blocked_address" and "10.0.0.1" in err.message
    assert spy.calls == [] and site.log == []


@pytest.mark.parametrize("form", ["0x7f.1", "2130706433", "127.1", "017700000001"])
def test_a4_numeric_forms_through_getaddrinfo_are_blocked(form):
    """Forms that reach the real resolver (getaddrinfo) come back as 127.0.0.1 and are refused."""
    import aiohttp

    s = strict_settings(allowed_private_addresses=())

    async def go():
        resolver = SafeResolver(s, AddressPolicy(s), aiohttp.ThreadedResolver())
        try:
            await resolver.resolve(form, 80)
        finally:
            await resolver.close()

    with pytest.raises(OSError, match="127.0.0.1, a loopback address"):
        asyncio.run(go())


def test_a6_dns_rebinding_one_resolution_per_connection(spy, serve):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    answers = iter(["127.0.0.1", "127.0.0.2"])
    resolver = StaticResolver({"rebind.test": lambda: next(answers)})
    s = strict_settings(site.port)
    url = f"http://rebind.test:{site.port}/p"
    assert fetch(url, s, resolver).status == 200
    assert resolver.calls == ["rebind.test"]
    assert spy.calls == [("127.0.0.1", site.port)]  # connected to exactly the checked address
    # A new connection resolves again; the rebound answer is refused before connect.
    assert refused(url, s, resolver).code == "blocked_address"
    assert resolver.calls == ["rebind.test", "rebind.test"]
    assert spy.calls == [("127.0.0.1", site.port)] and site.hits() == 1


@pytest.mark.parametrize("location, code", [
    ("http://127.0.0.2/", "blocked_address"),
    ("//127.0.0.2/x", "blocked_address"),
    ("http://[::ffff:127.0.0.2]/", "blocked_address"),
    ("http://evil.test/", "blocked_address"),  # a name that resolves to 169.254.169.254
    ("file:///etc/passwd", "bad_scheme"),
    ("gopher://127.0.0.1:70/_stats", "bad_scheme"),
    ("http://user:pw@ok.test/", "bad_url"),
    ("http://ok.test:22/", "blocked_port"),
])
def test_a7_redirect_hops_are_checked(location, code, spy, serve):
    site = serve.site({"/start": (302, {"Location": location}, "")})
    resolver = StaticResolver({"ok.test": "127.0.0.1", "evil.test": "169.254.169.254"})
    err = refused(f"http://ok.test:{site.port}/start", strict_settings(site.port), resolver)
    assert err.code == code
    assert "redirects to" in err.message or "reached by redirect from" in err.message, err
    assert site.hits() == 1
    assert all(addr == ("127.0.0.1", site.port) for addr in spy.calls)


def test_a8_redirect_loop(serve):
    site = serve.site({"/a": (302, {"Location": "/b"}, ""), "/b": (301, {"Location": "/a"}, "")})
    err = refused(f"http://127.0.0.1:{site.port}/a", open_settings())
    assert err.code == "redirect_loop" and "/a -> " in err.message
    assert site.hits() <= 4


def test_a8_four_hop_chain_stops_after_three_redirects(serve):
    routes = {f"/r{i}": (302, {"Location": f"/r{i + 1}"}, "") for i in range(4)}
    routes["/r4"] = (200, JSONLD, PROFILE)
    site = serve.site(routes)
    err = refused(f"http://127.0.0.1:{site.port}/r0", open_settings())
    assert err.code == "too_many_redirects"
    assert site.hits() == 4 and site.hits("/r4") == 0


def test_a8_three_redirects_are_followed_and_reported(serve):
    routes = {"/r0": (301, {"Location": "r1"}, ""),                     # relative
              "/r1": (307, {"Location": "/r2"}, ""),
              "/r2": (308, {"Location": "http://b.test:PORT/r3#x"}, ""),  # absolute, another host
              "b.test/r3": (200, JSONLD, PROFILE)}
    site = serve.site(routes)
    routes["/r2"] = (308, {"Location": f"http://b.test:{site.port}/r3#x"}, "")
    base = f"http://a.test:{site.port}"
    r = fetch(f"{base}/r0", open_settings(site.port, "a.test", "b.test"))
    assert (r.status, r.url) == (200, f"http://b.test:{site.port}/r3")
    assert r.redirects == [f"{base}/r0", f"{base}/r1", f"{base}/r2"]
    assert r.body == PROFILE.encode()


def test_a9_no_cookie_or_authorization_is_ever_sent(serve):
    def first(request):
        resp = web.Response(status=302, headers={"Location": f"http://b.test:{site.port}/q",
                                                 "WWW-Authenticate": 'Basic realm="x"'})
        resp.set_cookie("session", "secret")
        return resp
    site = serve.site({"a.test/p": first, "b.test/q": (200, JSONLD, PROFILE)})
    s = open_settings(site.port, "a.test", "b.test")

    async def twice(f):
        await f.fetch(f"http://a.test:{site.port}/p")
        return await f.fetch(f"http://a.test:{site.port}/p")  # a cookie jar would send it now

    run_with(s, twice)
    assert site.hits() == 4
    for entry in site.log:
        assert "Cookie" not in entry["headers"] and "Authorization" not in entry["headers"]
        assert entry["headers"]["User-Agent"] == s.user_agent


def test_a10_environment_proxy_is_ignored(monkeypatch, spy, serve):
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.2:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    r = fetch(f"http://127.0.0.1:{site.port}/p", open_settings())
    assert r.status == 200 and site.hits("/p") == 1
    assert spy.calls == [("127.0.0.1", site.port)]  # direct, never to the proxy


@pytest.mark.parametrize("port", [22, 6379, 11211, 8080])
def test_a11_blocked_ports(port, spy):
    s = strict_settings(resolve={("ok.test", port): "127.0.0.1"})
    err = refused(f"http://ok.test:{port}/", s)
    assert err.code == "blocked_port" and str(port) in err.message
    assert spy.calls == []


def test_a11_allow_private_permits_any_port(serve):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    assert fetch(f"http://127.0.0.1:{site.port}/p", open_settings()).status == 200


def test_a12_idn_is_normalised_before_resolution(spy):
    resolver = StaticResolver({"evil.test": "169.254.169.254"})
    assert refused("http://ｅｖｉｌ.test/", strict_settings(), resolver).code == "blocked_address"
    assert resolver.calls == ["evil.test"] and spy.calls == []
    for url in ("http://evil.test%00.ok.test/", "http://evil.test\x00.ok.test/"):
        assert refused(url, strict_settings(), resolver).code == "bad_url"
    assert resolver.calls == ["evil.test"]


# --------------------------------------------------------------------------- B: HTTP robustness


def test_b1_content_length_too_big_refused_before_reading(serve):
    async def liar(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\n"
                     b"Content-Length: 10485760\r\n\r\n" + b"x" * 1024)
        await writer.drain()
        await wait_closed(reader)
    server = serve.raw(liar)
    err = refused(f"http://127.0.0.1:{server.port}/p", open_settings())
    # Refused on the headers: reading the 10 MiB the server never sends would end in "timeout".
    assert err.code == "too_large" and "Content-Length" in err.message


def test_b2_chunked_body_too_big(serve):
    sent = []

    async def big(request):
        resp = web.StreamResponse(headers=JSONLD)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(32):  # 2 MiB in 64 KiB chunks
                await resp.write(b"x" * 65536)
                sent.append(1)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        return resp
    site = serve.site({"/p": big})
    err = refused(f"http://127.0.0.1:{site.port}/p", open_settings())
    assert err.code == "too_large" and "256 KiB" in err.message


def test_b3_gzip_bomb_counted_after_decompression(serve):
    bomb = gzip.compress(b"\0" * (10 * 1024 * 1024), 9)  # 10 MiB of zeros is about 10 KB
    assert len(bomb) < 64 * 1024
    site = serve.site({"/p": (200, {**JSONLD, "Content-Encoding": "gzip"}, bomb)})
    tracemalloc.start()
    try:
        err = refused(f"http://127.0.0.1:{site.port}/p", open_settings())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.code == "too_large" and "after decompression" in err.message
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes: the bomb was inflated, not streamed"
    assert site.log[0]["headers"]["Accept-Encoding"] == "gzip, identity"


@pytest.mark.parametrize("encoding, body", [
    ("gzip, gzip", gzip.compress(gzip.compress(b"{}", mtime=0), mtime=0)), ("br", b"\x0b\x01\x80{}\x03"),
    ("deflate", b"x\x9c\xab\xae\x05\x00\x01u\x00\xf9"), ("gzip", b"this is not gzip at all"),
])
def test_b3_unrequested_or_broken_encodings(encoding, body, serve):
    site = serve.site({"/p": (200, {**JSONLD, "Content-Encoding": encoding}, body)})
    assert refused(f"http://127.0.0.1:{site.port}/p", open_settings()).code == "bad_encoding"


def test_gzip_body_within_limit_is_decoded(serve):
    site = serve.site({"/p": (200, {**JSONLD, "Content-Encoding": "gzip"}, gzip.compress(PROFILE.encode()))})
    assert fetch(f"http://127.0.0.1:{site.port}/p", open_settings()).body == PROFILE.encode()


def test_b4_server_that_never_answers_times_out(serve):
    async def silent(reader, writer):
        await read_request(reader)
        await wait_closed(reader)
    server = serve.raw(silent)
    s = open_settings(read_timeout=0.5, total_timeout=3.0)
    t0 = time.monotonic()
    err = refused(f"http://127.0.0.1:{server.port}/p", s)
    assert err.code == "timeout" and "total deadline" not in err.message  # the read timeout, not the deadline
    assert time.monotonic() - t0 > 0.4


@pytest.mark.parametrize("stage", ["headers", "body"])
def test_b5_slowloris_hits_the_total_deadline(stage, serve):
    async def dribble(reader, writer):
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\nContent-Length: 100000\r\n"
        writer.write(head + (b"\r\n" if stage == "body" else b""))
        for _ in range(100):  # one byte every 0.1 s: each read is well inside read_timeout
            writer.write(b"X-Slow: y\r\n" if stage == "headers" else b"x")
            await writer.drain()
            await asyncio.sleep(0.1)
    server = serve.raw(dribble)
    s = open_settings(read_timeout=0.5, total_timeout=1.0)
    t0 = time.monotonic()
    err = refused(f"http://127.0.0.1:{server.port}/p", s)
    elapsed = time.monotonic() - t0
    assert err.code == "timeout" and "total deadline" in err.message, err
    assert elapsed > 0.9


def test_b6_connection_refused_is_retried_then_typed(spy):
    import socket as socketlib
    sock = socketlib.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    s = open_settings(retries=2, retry_backoff=0.01)
    (err, fetcher) = run_with(s, lambda f: _catch(f.fetch(f"http://127.0.0.1:{port}/p")))
    assert err.code == "connect_failed"
    assert spy.to_port(port) == 3 and fetcher.stats["retries"] == 2


async def _catch(coro):
    try:
        await coro
    except FetchError as exc:
        return exc
    raise AssertionError("expected a FetchError")


@pytest.mark.parametrize("tail", [
    b"Content-Length: 1000\r\n\r\n" + b"x" * 10,              # reset mid-body
    b"Transfer-Encoding: chunked\r\n\r\n10\r\n0123456789",  # truncated chunked body
    b"",                                                     # closed inside the headers
])
def test_b6_truncated_responses_are_network_errors(tail, serve):
    async def cut(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\n" + tail)
        await writer.drain()
    server = serve.raw(cut)
    assert refused(f"http://127.0.0.1:{server.port}/p", open_settings()).code == "network_error"


@pytest.mark.parametrize("ctype", ["text/plain", "application/octet-stream", "application/activity+json",
                                   "image/svg+xml", None])
def test_b7_other_content_types_refused(ctype, serve):
    async def typed(reader, writer):
        await read_request(reader)
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n".encode()
        writer.write(head + b"\r\n" + b"x" * 1000)
        await writer.drain()
        await wait_closed(reader)
    server = serve.raw(typed)
    err = refused(f"http://127.0.0.1:{server.port}/p", open_settings())
    assert err.code == "bad_content_type"  # on the headers: reading the 5 MB never sent would time out


@pytest.mark.parametrize("ctype", ["application/ld+json", 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
                                   "Application/JSON; charset=utf-8", "text/html; charset=utf-8", "text/turtle"])
def test_b7_profile_content_types_accepted(ctype, serve):
    site = serve.site({"/p": (200, {"Content-Type": ctype}, PROFILE)})
    r = fetch(f"http://127.0.0.1:{site.port}/p", open_settings())
    assert r.status == 200 and r.content_type == ctype.split(";")[0].lower()


@pytest.mark.parametrize("ctype, body", [
    ("application/ld+json; charset=klingon", b'{"name": "x"}'),
    ("application/ld+json; charset=utf-8", b'{"name": "\xff\xfe broken"}'),
    ("application/ld+json", "\ufeff{}".encode("utf-16")),
])
def test_b8_charsets_never_crash_and_bytes_are_kept(ctype, body, serve):
    site = serve.site({"/p": (200, {"Content-Type": ctype}, body)})
    r = fetch(f"http://127.0.0.1:{site.port}/p", open_settings())
    assert r.body == body


def test_b9_retry_after_too_long_backs_the_host_off(serve):
    site = serve.site({"a.test/p": (429, {"Retry-After": "120"}, ""), "b.test/p": (200, JSONLD, PROFILE)})
    s = open_settings(site.port, "a.test", "b.test", retries=2, max_retry_after=1.0)

    async def go(f):
        first = await _catch(f.fetch(f"http://a.test:{site.port}/p"))
        second = await _catch(f.fetch(f"http://a.test:{site.port}/other"))
        other = await f.fetch(f"http://b.test:{site.port}/p")
        return first, second, other

    (first, second, other), _ = run_with(s, go)
    assert first.code == "backed_off" and "120" in first.message
    assert second.code == "backed_off"
    assert site.hits(host="a.test") == 1  # no retry, and nothing while backed off
    assert other.status == 200  # other hosts unaffected


def test_b9_short_retry_after_is_waited_for(serve):
    calls = []

    def flaky(request):
        calls.append(time.monotonic())
        if len(calls) == 1:
            return web.Response(status=503, headers={"Retry-After": "1"})
        return web.Response(status=200, headers=JSONLD, text=PROFILE)
    site = serve.site({"/p": flaky})
    r, f = run_with(open_settings(retries=2), lambda f: f.fetch(f"http://127.0.0.1:{site.port}/p"))
    assert r.status == 200 and f.stats["retries"] == 1
    assert calls[1] - calls[0] >= 0.95


def test_b9_retries_used_up_returns_the_last_status(serve):
    site = serve.site({"/p": (503, {}, "busy"), "/gone": (500, {}, "")})
    r, f = run_with(open_settings(retries=2, retry_backoff=0.01), lambda f: f.fetch(f"http://127.0.0.1:{site.port}/p"))
    assert (r.status, r.body) == (503, b"") and site.hits("/p") == 3 and f.stats["retries"] == 2
    r = fetch(f"http://127.0.0.1:{site.port}/gone", open_settings(retries=2))
    assert r.status == 500 and site.hits("/gone") == 1  # 500 is not retried


@pytest.mark.parametrize("status", [404, 410, 401, 500])
def test_final_error_statuses_are_returned(status, serve):
    site = serve.site({"/p": (status, {"Content-Type": "text/html"}, "nope")})
    r = fetch(f"http://127.0.0.1:{site.port}/p", open_settings())
    assert r.status == status and r.body == b""


@pytest.mark.parametrize("head", [
    b"X-Huge: " + b"a" * 100_000 + b"\r\n",
    b"Set-Cookie: a=b\r\n" * 1000,
])
def test_b10_huge_or_too_many_headers(head, serve):
    async def huge(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\n" + head + b"Content-Length: 2\r\n\r\n{}")
        await writer.drain()
    server = serve.raw(huge)
    err = refused(f"http://127.0.0.1:{server.port}/p", open_settings())
    assert err.code == "network_error" and "cannot read" in err.message


def test_conditional_get_304(serve):
    def cond(request):
        if request.headers.get("If-None-Match") == '"v1"' and request.headers.get("If-Modified-Since"):
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(status=200, headers={**JSONLD, "ETag": '"v1"',
                                                 "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT"}, text=PROFILE)
    site = serve.site({"/p": cond})
    url = f"http://127.0.0.1:{site.port}/p"
    first = fetch(url, open_settings())
    assert (first.etag, first.last_modified) == ('"v1"', "Wed, 21 Oct 2015 07:28:00 GMT")
    again = fetch(url, open_settings(), etag=first.etag, last_modified=first.last_modified)
    assert (again.status, again.body, again.etag) == (304, b"", '"v1"')


def test_fetch_one_and_exceptions_are_always_fetch_errors(serve):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    r = fetch(f"http://127.0.0.1:{site.port}/p", open_settings())
    assert (r.status, r.content_type, r.redirects) == (200, "application/ld+json", [])
    assert r.headers["content-type"] == "application/ld+json"
    for bad in (None, 42, "not a url", "http://"):
        with pytest.raises(FetchError) as info:
            fetch(bad, open_settings())
        assert info.value.code == "bad_url"


def test_unknown_name_is_dns_failed(spy):
    err = refused("http://nowhere.test/", strict_settings(), StaticResolver({}))
    assert err.code == "dns_failed" and "nowhere.test" in err.message and spy.calls == []


def test_fetcher_without_context_manager(serve):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})

    async def go():
        f = Fetcher(open_settings())
        try:
            return await f.fetch(f"http://127.0.0.1:{site.port}/p")
        finally:
            await f.close()
    assert asyncio.run(go()).status == 200


# --------------------------------------------------------------------------- E: robots.txt


def robots_settings(port, *names, **kw):
    kw.setdefault("obey_robots", True)
    return open_settings(port, *names, **kw)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_e1_robots_server_error_means_closed(status, serve):
    site = serve.site({"/robots.txt": (status, {}, "down"), "/p": (200, JSONLD, PROFILE)})
    err = refused(f"http://127.0.0.1:{site.port}/p", robots_settings(site.port))
    assert err.code == "robots_unreachable"
    assert f"HTTP {status}" in err.message and "RFC 9309" in err.message
    assert site.hits("/p") == 0


def test_e1_robots_timeout_means_closed(serve):
    async def slow(request):
        await asyncio.sleep(2)
        return web.Response(text="")
    site = serve.site({"/robots.txt": slow, "/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, read_timeout=0.3, total_timeout=0.5)

    async def go(f):
        a = await _catch(f.fetch(f"http://127.0.0.1:{site.port}/p"))
        b = await _catch(f.fetch(f"http://127.0.0.1:{site.port}/q"))  # cached: not asked again
        return a, b
    (a, b), f = run_with(s, go)
    assert a.code == b.code == "robots_unreachable"
    assert site.hits("/p") == 0 and site.hits("/robots.txt") == 1 and f.stats["robots_fetches"] == 1


def test_e1_robots_connection_refused_means_closed():
    import socket as socketlib
    sock = socketlib.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    err = refused(f"http://127.0.0.1:{port}/p", robots_settings(port))
    assert err.code == "robots_unreachable" and "could not connect" in err.message


@pytest.mark.parametrize("status", [404, 410, 401, 403])
def test_e2_e3_robots_4xx_means_allowed(status, serve):
    """E3 policy: 401/403 are "unavailable" like any 4xx (RFC 9309 §2.3.1.3), so allowed."""
    site = serve.site({"/robots.txt": (status, {}, ""), "/p": (200, JSONLD, PROFILE)})
    assert fetch(f"http://127.0.0.1:{site.port}/p", robots_settings(site.port)).status == 200
    assert site.hits("/robots.txt") == 1 and site.hits("/p") == 1


def test_robots_rules_and_user_agent(serve):
    robots = ("User-agent: crawler\nDisallow: /\n\n"                    # must not match us
              "User-agent: hubnet-crawler\nDisallow: /private\n")
    site = serve.site({"/robots.txt": (200, {"Content-Type": "text/plain"}, robots),
                       "/p": (200, JSONLD, PROFILE), "/private/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port)

    async def go(f):
        ok = await f.fetch(f"http://127.0.0.1:{site.port}/p")
        no = await _catch(f.fetch(f"http://127.0.0.1:{site.port}/private/p"))
        return ok, no
    (ok, no), f = run_with(s, go)
    assert ok.status == 200 and no.code == "robots_disallowed"
    assert site.hits("/private/p") == 0 and site.hits("/robots.txt") == 1
    assert all(e["headers"]["User-Agent"] == s.user_agent for e in site.log)


def test_e4_large_robots_parsed_only_up_to_the_limit(serve):
    filler = "# padding padding padding padding padding padding padding padding\n" * 9000  # ~600 KiB
    robots = "User-agent: *\nDisallow: /early\n" + filler + "Disallow: /late\n" + filler * 2
    site = serve.site({"/robots.txt": (200, {"Content-Type": "text/plain"}, robots),
                       "/early": (200, JSONLD, PROFILE), "/late": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port)
    assert len(robots.encode()) > 1_500_000 and s.robots_max_body == 512 * 1024

    async def go(f):
        return (await _catch(f.fetch(f"http://127.0.0.1:{site.port}/early")),
                await f.fetch(f"http://127.0.0.1:{site.port}/late"))
    (early, late), f = run_with(s, go)
    assert early.code == "robots_disallowed"
    assert late.status == 200  # its rule sits past 512 KiB, so it was never read
    assert f.stats["bytes"] < 600 * 1024


def test_e5_robots_redirect_chain_over_five_is_unavailable(serve):
    routes = {"/robots.txt": (301, {"Location": "/r1"}, ""), "/p": (200, JSONLD, PROFILE)}
    routes.update({f"/r{i}": (302, {"Location": f"/r{i + 1}"}, "") for i in range(1, 7)})
    routes["/r7"] = (200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /\n")
    site = serve.site(routes)
    r = fetch(f"http://127.0.0.1:{site.port}/p", robots_settings(site.port))
    assert r.status == 200  # treated as unavailable (4xx) after 5 redirects: allowed
    assert sum(site.hits(p) for p in ["/robots.txt"] + [f"/r{i}" for i in range(1, 8)]) == 6


def test_e5_robots_five_redirects_are_followed(serve):
    routes = {"/robots.txt": (301, {"Location": "/r1"}, ""), "/p": (200, JSONLD, PROFILE)}
    routes.update({f"/r{i}": (302, {"Location": f"/r{i + 1}"}, "") for i in range(1, 5)})
    routes["/r5"] = (200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /\n")
    site = serve.site(routes)
    assert refused(f"http://127.0.0.1:{site.port}/p", robots_settings(site.port)).code == "robots_disallowed"
    assert site.hits("/p") == 0


def test_e5_robots_redirect_hops_are_ssrf_checked(spy, serve):
    site = serve.site({"/robots.txt": (302, {"Location": "http://169.254.169.254/robots.txt"}, ""),
                       "/p": (200, JSONLD, PROFILE)})
    s = strict_settings(site.port, obey_robots=True)
    err = refused(f"http://127.0.0.1:{site.port}/p", s)
    assert err.code == "robots_unreachable" and "169.254.169.254" in err.message
    assert site.hits("/p") == 0 and all(a == ("127.0.0.1", site.port) for a in spy.calls)


def test_e6_crawl_delay_is_honoured(serve):
    site = serve.site({"/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nCrawl-delay: 0.5\n"),
                       "/p": (200, JSONLD, PROFILE), "/q": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, per_host_delay=0.0)

    async def go(f):
        await f.fetch(f"http://127.0.0.1:{site.port}/p")
        await f.fetch(f"http://127.0.0.1:{site.port}/q")
    run_with(s, go)
    starts = [e["start"] for e in site.log]
    assert [e["path"] for e in site.log] == ["/robots.txt", "/p", "/q"]
    assert all(b - a >= 0.45 for a, b in zip(starts, starts[1:])), starts


def test_e6_crawl_delay_too_long_skips_the_host(serve):
    site = serve.site({"/robots.txt": (200, {}, "User-agent: *\nCrawl-delay: 3600\n"), "/p": (200, JSONLD, PROFILE)})
    err = refused(f"http://127.0.0.1:{site.port}/p", robots_settings(site.port))
    assert err.code == "crawl_delay_too_long" and "3600" in err.message
    assert site.hits("/p") == 0


def test_e7_one_request_in_flight_per_host_with_delay(serve):
    async def slowish(request):
        await asyncio.sleep(0.05)
        return web.Response(headers=JSONLD, text=PROFILE)
    site = serve.site({"/robots.txt": (404, {}, ""), **{f"/p{i}": slowish for i in range(6)}})
    s = robots_settings(site.port, per_host_delay=0.15)

    async def go(f):
        return await asyncio.gather(*(f.fetch(f"http://127.0.0.1:{site.port}/p{i}") for i in range(6)))
    results, f = run_with(s, go)
    assert [r.status for r in results] == [200] * 6
    assert site.max_active == 1
    assert f.stats["robots_fetches"] == 1 and site.hits("/robots.txt") == 1
    log = sorted(site.log, key=lambda e: e["start"])
    gaps = [b["start"] - a["end"] for a, b in zip(log, log[1:])]
    assert min(gaps) >= 0.14, gaps


def test_e7_different_hosts_proceed_concurrently(serve):
    async def slow(request):
        await asyncio.sleep(0.4)
        return web.Response(headers=JSONLD, text=PROFILE)
    site = serve.site({"/p": slow, "/q": slow})
    s = open_settings(site.port, "a.test", "b.test", per_host_delay=0.2)

    async def go(f):
        return await asyncio.gather(*(f.fetch(f"http://{h}:{site.port}/{p}")
                                      for h in ("a.test", "b.test") for p in ("p", "q")))
    run_with(s, go)
    # Two hosts in parallel (two requests in flight at once), one request at a time per host.
    assert site.max_active == 2 and site.max_active_by_host == {"a.test": 1, "b.test": 1}


def test_robots_cache_expires(serve):
    site = serve.site({"/robots.txt": (200, {}, "User-agent: *\nAllow: /\n"), "/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, robots_cache_ttl=0.2)

    async def go(f):
        await f.fetch(f"http://127.0.0.1:{site.port}/p")
        await f.fetch(f"http://127.0.0.1:{site.port}/p")
        await asyncio.sleep(0.3)
        await f.fetch(f"http://127.0.0.1:{site.port}/p")
    _, f = run_with(s, go)
    assert site.hits("/robots.txt") == 2 and f.stats["robots_fetches"] == 2


def test_robots_on_a_blocked_host_reports_the_address(spy):
    resolver = StaticResolver({"evil.test": "10.0.0.1"})
    err = refused("http://evil.test/p", strict_settings(obey_robots=True), resolver)
    assert err.code == "blocked_address" and spy.calls == []


class _CountingResolver(AbstractResolver):
    """Shows that a resolver_factory's resolver is wrapped, not trusted."""

    def __init__(self):
        self.inner = StaticResolver({"meta.test": "169.254.169.254"})

    async def resolve(self, host, port=0, family=0):
        return await self.inner.resolve(host, port, family)

    async def close(self):
        pass


def test_resolver_factory_answers_are_still_checked(spy):
    assert refused("http://meta.test/", strict_settings(), _CountingResolver()).code == "blocked_address"
    assert spy.calls == []


def test_default_resolver_is_wrapped_and_checked(spy):
    """No resolver_factory: real getaddrinfo (in a thread) answers, and the answer is checked."""
    err = refused("http://localhost/p", strict_settings(allowed_private_addresses=()))
    assert err.code == "blocked_address" and "loopback" in err.message
    assert "localhost" in spy.lookups and spy.calls == []


def test_socket_factory_backstop_refuses_blocked_addresses():
    """The last check before connect(): even an address that slipped past is refused."""
    import socket as socketlib

    f = Fetcher(strict_settings())
    with pytest.raises(OSError, match="127.0.0.2, a loopback address"):
        f._socket_factory((socketlib.AF_INET, socketlib.SOCK_STREAM, 0, "", ("127.0.0.2", 80)))
    sock = f._socket_factory((socketlib.AF_INET, socketlib.SOCK_STREAM, 0, "", ("127.0.0.1", 80)))
    sock.close()  # the excepted address gets a socket


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command to make a throwaway certificate")
def test_tls_certificates_are_verified(tmp_path, serve):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=tls.test",
                    "-addext", "subjectAltName=DNS:tls.test"], check=True, capture_output=True, timeout=30)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    site = serve.site({"/p": (200, JSONLD, PROFILE)}, ssl_context=ctx)
    err = refused(f"https://tls.test:{site.port}/p", open_settings(site.port, "tls.test"))
    assert err.code == "connect_failed" and "TLS" in err.message  # self-signed: refused, not ignored
    assert site.log == []


def test_robots_checked_for_each_redirect_origin(serve):
    """A redirect to another host needs that host's robots.txt too; the error names the first URL."""
    site = serve.site({"a.test/robots.txt": (404, {}, ""),
                       "a.test/p": (302, {"Location": "http://b.test:PORT/q"}, ""),
                       "b.test/robots.txt": (200, {}, "User-agent: *\nDisallow: /q\n"),
                       "b.test/q": (200, JSONLD, PROFILE)})
    site.routes["a.test/p"] = (302, {"Location": f"http://b.test:{site.port}/q"}, "")
    err = refused(f"http://a.test:{site.port}/p", robots_settings(site.port, "a.test", "b.test"))
    assert err.code == "robots_disallowed" and f"reached by redirect from http://a.test:{site.port}/p" in err.message
    assert site.hits("/robots.txt", host="b.test") == 1 and site.hits("/q") == 0


# --------------------------------------------------------------------------- connections (file descriptors)

ALLOW_ALL = (200, {"Content-Type": "text/plain"}, "User-agent: *\nAllow: /\n")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets through /proc (Linux)")
def test_idle_connections_are_bounded_across_many_hosts(serve):
    """One idle keep-alive socket per host ran a 10,000-host crawl out of file descriptors."""
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    hosts = [f"h{i}.test" for i in range(60)]

    def crawl(max_idle):
        # keep-alive long enough that no idle socket expires mid-test on a loaded machine
        s = open_settings(site.port, *hosts, concurrency=8, max_idle_connections=max_idle, keepalive_timeout=300)
        peak = 0

        async def one(f, host):
            nonlocal peak
            r = await f.fetch(f"http://{host}:{site.port}/p")
            peak = max(peak, client_sockets(site.port))
            return r.status

        async def go(f):
            statuses = await asyncio.gather(*(one(f, h) for h in hosts))
            await asyncio.sleep(0.05)  # closed transports finish closing on the next loop turns
            return statuses, f._connector.idle_count(), client_sockets(site.port)
        (statuses, idle, after), _ = run_with(s, go)
        assert statuses == [200] * len(hosts)
        return peak, idle, after

    peak, idle, after = crawl(4)
    assert idle == 4 and after == 4
    assert peak <= 8 + 4 + 2, peak  # in flight + idle, and a couple still closing
    _, idle, after = crawl(1000)    # unbounded, as before: one idle socket per host
    assert idle == after == len(hosts)


# (hosts fetched in order, max idle, hosts fetched again after): the connections that stay are the
# ones released last; a host whose connection was closed as the oldest needs a new one.
EVICTION = [
    (["a", "b", "c"], 2, ["b", "c"], 0),            # a released first: a's closed, b and c reused
    (["a", "b", "c"], 2, ["a"], 1),                 # ... so a connects again
    (["a", "b", "a", "c"], 2, ["a", "c"], 0),       # a released again after b: b is now the oldest
    (["a", "b", "a", "c"], 2, ["b"], 1),
    (["a", "b", "c", "d"], 1, ["d"], 0),            # only the last one stays
    (["a", "b", "c", "d"], 1, ["a", "b", "c"], 3),
    (["a", "b"], 0, ["a", "b"], 2),                 # no idle connection at all
    (["a", "a", "a", "b"], 4, ["a", "b"], 0),       # under the bound: every host keeps its connection
]


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets through /proc (Linux)")
@pytest.mark.parametrize("first, max_idle, again, new_connections", EVICTION)
def test_the_least_recently_released_idle_connection_is_closed_first(spy, serve, first, max_idle, again,
                                                                     new_connections):
    site = serve.site({"/p": (200, JSONLD, PROFILE)})
    hosts = sorted(set(first + again))
    s = open_settings(site.port, *(f"{h}.test" for h in hosts), max_idle_connections=max_idle,
                      keepalive_timeout=300)   # no idle socket expires mid-test on a loaded machine

    async def go(f):
        for h in first:
            await f.fetch(f"http://{h}.test:{site.port}/p")
        await asyncio.sleep(0.05)   # closed transports finish closing on the next loop turns
        idle, open_after_first = f._connector.idle_count(), client_sockets(site.port)
        before = spy.to_port(site.port)
        for h in again:
            await f.fetch(f"http://{h}.test:{site.port}/p")
        return idle, open_after_first, spy.to_port(site.port) - before
    (idle, open_sockets, connected), _ = run_with(s, go)
    assert idle == open_sockets == min(max_idle, len(set(first)))
    assert connected == new_connections


def test_robots_txt_and_pages_on_one_host_share_one_connection(spy, serve):
    site = serve.site({"/robots.txt": ALLOW_ALL, "/p": (200, JSONLD, PROFILE), "/q": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, per_host_delay=0.1, max_idle_connections=1)

    async def go(f):
        return [(await f.fetch(f"http://127.0.0.1:{site.port}/{p}")).status for p in ("p", "q")]
    statuses, f = run_with(s, go)
    assert statuses == [200, 200] and site.hits("/robots.txt") == 1
    assert spy.to_port(site.port) == 1


def test_robots_and_profile_pairs_keep_their_connection_under_the_bound(spy, serve):
    """Crawl-like: a few workers, each taking host after host (robots.txt, then the profile);
    the default bound (2 x concurrency) keeps every pair on one connection."""
    site = serve.site({"/robots.txt": ALLOW_ALL, "/p": (200, JSONLD, PROFILE)})
    hosts = [f"h{i}.test" for i in range(40)]
    s = robots_settings(site.port, *hosts, concurrency=4, per_host_delay=0.05,
                        keepalive_timeout=300)   # no idle socket expires mid-test on a loaded machine

    async def go(f):
        queue = list(hosts)

        async def worker():
            while queue:
                await f.fetch(f"http://{queue.pop()}:{site.port}/p")
        await asyncio.gather(*(worker() for _ in range(s.concurrency)))
        return f._connector.idle_count()
    idle, _ = run_with(s, go)
    assert site.hits("/robots.txt") == site.hits("/p") == len(hosts)
    # One connection per pair; a loaded machine may see the test server close a few idle ones while
    # a profile waits its turn at the per-address gate (never one per request: that would be 2x).
    assert len(hosts) <= spy.to_port(site.port) <= len(hosts) + s.concurrency
    assert idle == 2 * s.concurrency


class _ExhaustedResolver(AbstractResolver):
    async def resolve(self, host, port=0, family=0):
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))

    async def close(self):
        pass


@pytest.mark.parametrize("where", ["socket", "lookup"])
def test_out_of_file_descriptors_is_ours_not_the_sites(where, serve):
    """EMFILE while connecting: not connect_failed, and robots.txt is not cached as unreachable."""
    site = serve.site({"/robots.txt": ALLOW_ALL, "/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, "full.test", retries=1, retry_backoff=0.01)
    full = True
    f = Fetcher(s, resolver_factory=(lambda: _ExhaustedResolver()) if where == "lookup" else None)
    real_factory = f._socket_factory

    def socket_factory(addr_info):
        if full and where == "socket":
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        return real_factory(addr_info)
    f._socket_factory = socket_factory  # read when the connector is made, on first use
    url = f"http://full.test:{site.port}/p" if where == "socket" else "http://full.test/p"

    async def go():
        nonlocal full
        async with f:
            err = await _catch(f.fetch(url))
            assert len(f.robots) == 0  # nothing learnt about the site
            if where == "socket":
                full = False
                assert (await f.fetch(url)).status == 200
        return err
    err = asyncio.run(go())
    assert err.code == "network_error" and "too many open files" in err.message
    assert "not a problem with the site" in err.message
    assert f.stats["retries"] == 1  # retried: descriptors free up as connections close
    if where == "socket":
        assert site.hits("/robots.txt") == 1 and site.hits("/p") == 1


# --------------------------------------------------------------------------- a robots cache across crawls


def test_robots_cache_outlives_a_fetcher(serve):
    site = serve.site({"/robots.txt": ALLOW_ALL, "/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, robots_cache_ttl=60)
    later = Later()
    cache = RobotsCache(clock=later)

    def crawl():
        async def go():
            async with Fetcher(s, robots=cache) as f:
                await f.fetch(f"http://127.0.0.1:{site.port}/p")
                return f.stats
        return asyncio.run(go())  # a new event loop each time, as Crawler.crawl does

    assert crawl()["robots_fetches"] == 1
    second = crawl()
    assert second["robots_fetches"] == 0 and second["robots_cache_hits"] == 1
    assert site.hits("/robots.txt") == 1 and site.hits("/p") == 2
    later.advance(61)  # expired: asked again
    assert crawl()["robots_fetches"] == 1 and site.hits("/robots.txt") == 2


class Later:
    """A monotonic clock that a test moves forward instead of sleeping."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


async def _catch_or_status(coro):
    try:
        return (await coro).status
    except FetchError as exc:
        return exc.code


def test_shared_robots_cache_keeps_the_shorter_ttl_of_unreachable_robots(monkeypatch, serve):
    import hubnet.crawler.crawl.fetch as fetchmod

    monkeypatch.setattr(fetchmod, "_ROBOTS_FAILURE_TTL", 30)
    site = serve.site({"a.test/robots.txt": (503, {}, "down"), "b.test/robots.txt": ALLOW_ALL,
                       "/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port, "a.test", "b.test", robots_cache_ttl=60)
    later = Later()
    cache = RobotsCache(clock=later)

    def crawl():
        async def go():
            async with Fetcher(s, robots=cache) as f:
                return [await _catch_or_status(f.fetch(f"http://{h}:{site.port}/p")) for h in ("a.test", "b.test")]
        return asyncio.run(go())

    assert crawl() == ["robots_unreachable", 200]
    assert crawl() == ["robots_unreachable", 200]
    assert site.hits("/robots.txt", host="a.test") == 1
    later.advance(31)  # the unreachable robots.txt (30 s) expired, the good one (60 s) did not
    crawl()
    assert site.hits("/robots.txt", host="a.test") == 2 and site.hits("/robots.txt", host="b.test") == 1


def test_robots_cache_is_bounded_and_forgets_on_request():
    cache = RobotsCache(max_origins=2)
    for host in ("a", "b", "c"):
        cache.put(f"https://{host}.test/robots.txt", unreachable("x", "y", ttl=60))
    assert len(cache) == 2 and cache.get("https://a.test/robots.txt") is None  # the oldest went
    cache.forget("https://b.test/some/profile.jsonld?x=1")
    assert cache.get("https://b.test/robots.txt") is None and cache.get("https://c.test/robots.txt")
    cache.put("https://d.test/robots.txt", unreachable("x", "y", ttl=-1))
    assert cache.get("https://d.test/robots.txt") is None and len(cache) == 1  # expired: dropped


def test_crawler_and_background_pass_one_robots_cache_to_every_crawl(monkeypatch, serve):
    from hubnet.crawler.crawl.crawler import Crawler, Summary
    from hubnet.crawler.store.graph import Store
    from hubnet.crawler.crawl import scheduler as background

    site = serve.site({"/robots.txt": ALLOW_ALL, "/p": (200, JSONLD, PROFILE)})
    s = robots_settings(site.port)
    cache = RobotsCache()
    for _ in range(2):
        Crawler(Store(None), s, robots=cache).crawl([f"http://127.0.0.1:{site.port}/p"])
    assert site.hits("/robots.txt") == 1 and site.hits("/p") == 2

    given = []

    class FakeCrawler:
        def __init__(self, store, settings, *, robots=None, **kw):
            given.append(robots)

        def crawl(self, *args, **kw):
            return Summary()

    monkeypatch.setattr(background, "Crawler", FakeCrawler)
    bg = background.Background(Store(None), s, None, after_crawl=lambda when: None)
    bg.robots.put("https://x.test/robots.txt", unreachable("https://x.test/robots.txt", "HTTP 503", ttl=60))
    bg._crawl([], True)
    assert len(bg.robots) == 1  # a re-crawl keeps what it knows
    bg._crawl(["https://x.test/profile.jsonld"], False)
    assert len(bg.robots) == 0  # a ping reads its site's robots.txt again
    assert given == [bg.robots, bg.robots] and bg.last_error is None


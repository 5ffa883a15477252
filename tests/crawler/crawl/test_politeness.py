"""Politeness per machine and a scheduler without head-of-line blocking (issue 12, findings 4 and 5).

Finding 4, as the attack: fifty names pointing at one address got 22 parallel connections.
Loopback servers on 127.0.0.x count the requests in flight per address; the real crawler
crawls fifty names on them and must stay within the per-address and per-/24 limits.

Finding 5: a host with a long Crawl-delay and many URLs must not hold the workers while other
sites wait, and a ping during a long re-crawl is served in its own lane. Asserted by the order
of requests at the servers, never by how long anything took.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time

import pytest
from aiohttp import web

from hubnet.crawler.crawl.crawler import Crawler
from hubnet.crawler.crawl.fetch import Fetcher
from hubnet.crawler.crawl.netpolicy import StaticResolver
from hubnet.crawler.crawl.netpolicy import subnet
from hubnet.crawler.settings import Settings
from hubnet.crawler.store.graph import Store
from hubnet.testing import CONTEXT
from fetch_fixtures import Loopback, client_sockets
from hubnet.testing import wait_for  # noqa: F401  (fixture)


# ---------------------------------------------------------------------- servers on several loopback addresses
class Machines:
    """One aiohttp app listening on 127.0.0.1 .. 127.0.0.N, all on one port, counting requests in flight."""

    def __init__(self, loopback: Loopback, count: int, delay: float = 0.05):
        self.addresses = [f"127.0.0.{i}" for i in range(1, count + 1)]
        self.delay = delay
        self.active: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0
        self.starts: dict[str, list] = {}
        self.paths: list = []
        self.port = 0
        self.loopback = loopback
        loopback.call(self._start())

    async def _start(self):
        """The port the system gives on the first address may be taken on another one (by a test running
        in parallel): then start again on a new port."""
        for _ in range(20):
            app = web.Application()
            app.router.add_get("/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
            await self.runner.setup()
            self.port = 0
            try:
                for addr in self.addresses:
                    site = web.TCPSite(self.runner, addr, self.port)
                    await site.start()
                    self.port = self.port or self.runner.addresses[0][1]
                return
            except OSError as exc:
                await self.runner.cleanup()
                if exc.errno != errno.EADDRINUSE:
                    raise
        raise RuntimeError(f"no port free on all of {self.addresses}")

    async def _handle(self, request: web.Request):
        addr = request.transport.get_extra_info("sockname")[0]
        host = request.host.split(":")[0]
        self.paths.append((host, request.path))
        self.starts.setdefault(addr, []).append(time.monotonic())
        self.active[addr] = self.active.get(addr, 0) + 1
        self.peak[addr] = max(self.peak.get(addr, 0), self.active[addr])
        self.peak_total = max(self.peak_total, sum(self.active.values()))
        try:
            await asyncio.sleep(self.delay)
            if request.path == "/robots.txt":
                return web.Response(status=404)
            body = {"@context": CONTEXT, "@id": f"http://{host}:{self.port}/#group", "@type": "Organization",
                    "name": f"Group {host}"}
            return web.json_response(body, content_type="application/ld+json")
        finally:
            self.active[addr] -= 1

    def close(self):
        self.loopback.call(self.runner.cleanup())


@pytest.fixture(scope="module")
def loopback():
    lb = Loopback()
    yield lb
    lb.close()


def spread(names, machines) -> dict:
    """Map the names round-robin onto the machines' addresses (the attacker's DNS)."""
    return {(n, machines.port): machines.addresses[i % len(machines.addresses)] for i, n in enumerate(names)}


# (addresses, names, per_address_concurrency, per_subnet_concurrency, per_address_delay)
POLITENESS = {
    "one address, one in flight": (1, 50, 1, 6, 0.0),
    "one address, two in flight": (1, 50, 2, 6, 0.0),
    "one address, three in flight": (1, 50, 3, 6, 0.0),
    "ten addresses in one /24": (10, 50, 2, 3, 0.0),
    "one address, spaced starts": (1, 5, 4, 6, 0.2),
}


@pytest.fixture
def released(monkeypatch) -> dict:
    """{address: [when the crawler let each request to it through, on its own clock]}: the stamp its
    address gate takes as it lets a request go, which is what per_address_delay spaces. (A server's
    clock cannot show it: a request reaches the server after a connection set up and a scheduler's
    whim, so under load two arrivals can be closer than the two starts were.)"""
    starts: dict = {}
    real = Fetcher._enter

    async def recording(self, gates):
        await real(self, gates)
        address = next(key for key, gate in self._gates.items() if gate is gates[0])
        starts.setdefault(address, []).append(gates[0].next_start - gates[0].interval)

    monkeypatch.setattr(Fetcher, "_enter", recording)
    return starts


@pytest.mark.parametrize("case", sorted(POLITENESS))
def test_fifty_names_on_one_machine_stay_within_its_limits(loopback, tmp_path, released, case):
    n_addresses, n_names, per_address, per_subnet, delay = POLITENESS[case]
    machines = Machines(loopback, n_addresses)
    try:
        names = [f"n{i}.evil.test" for i in range(n_names)]
        settings = Settings(allow_private=True, per_host_delay=0.0, retries=0, concurrency=32,
                            per_address_concurrency=per_address, per_subnet_concurrency=per_subnet,
                            per_address_delay=delay, resolve=spread(names, machines))
        store = Store(tmp_path / "store")
        summary = Crawler(store, settings).crawl([f"http://{n}:{machines.port}/" for n in names])
        store.close()
        assert summary.counts["new"] == n_names, summary.to_dict()
        assert max(machines.peak.values()) <= per_address, machines.peak
        assert machines.peak_total <= per_subnet
        if n_addresses == 1 and not delay:
            assert machines.peak_total == per_address   # the limit is used, not just respected
        # Every request, robots.txt and page, went through its address's gate; starts were spaced there.
        assert set(released) == {f"a:{a}" for a in machines.addresses}
        assert sum(map(len, released.values())) == sum(map(len, machines.starts.values())) == 2 * n_names
        for starts in released.values():
            assert all(b - a >= delay - 1e-9 for a, b in zip(starts, starts[1:])), starts   # 1e-9: float rounding
    finally:
        machines.close()


def test_each_name_is_looked_up_once_per_crawl_and_pinned(loopback):
    """Politeness counts the address actually connected to: a name cannot move between requests."""
    machines = Machines(loopback, 1, delay=0.0)
    try:
        answers = iter(["127.0.0.1"] + ["8.8.8.8"] * 5)
        resolver = StaticResolver({"pinned.test": lambda: next(answers)})
        settings = Settings(allow_private=True, per_host_delay=0.0, retries=0)

        async def go():
            async with Fetcher(settings, resolver_factory=lambda: resolver) as f:
                for path in ("/a", "/b", "/c"):
                    await f.fetch(f"http://pinned.test:{machines.port}{path}")
        asyncio.run(go())
        assert resolver.calls == ["pinned.test"]
        assert [p for _, p in machines.paths] == ["/robots.txt", "/a", "/b", "/c"]
    finally:
        machines.close()


@pytest.mark.parametrize("ip, net", [
    ("192.0.2.0", "192.0.2.0/24"), ("192.0.2.255", "192.0.2.0/24"), ("192.0.3.0", "192.0.3.0/24"),
    ("2001:db8::1", "2001:db8::/64"), ("2001:db8::ffff:ffff:ffff:ffff", "2001:db8::/64"),
    ("2001:db8:0:1::", "2001:db8:0:1::/64"), ("::ffff:192.0.2.7", "192.0.2.0/24"), ("fe80::1%eth0", "fe80::/64"),
])
def test_subnets_are_slash_24_and_slash_64(ip, net):
    assert subnet(ip) == net


def test_one_gate_per_address_and_subnet():
    f = Fetcher(Settings())
    a1, a2 = f._gates_for("2001:db8::1"), f._gates_for("2001:db8::2")
    b = f._gates_for("2001:db8:0:1::1")
    assert a1[0] is not a2[0] and a1[1] is a2[1] and b[1] is not a1[1]
    assert f._gates_for("192.0.2.1")[1] is f._gates_for("192.0.2.200")[1] is not f._gates_for("192.0.3.1")[1]


# ---------------------------------------------------------------------- head-of-line blocking (finding 5)
def crawl_settings(fed, **kw) -> Settings:
    base = dict(allow_private=True, per_host_delay=0.0, retries=0, resolve=fed.resolve_map())
    base.update(kw)
    return Settings(**base)


def put_group(fed, host, path="/"):
    fed.put(host, path, {"@context": CONTEXT, "@id": fed.url(host, path + "#group"), "@type": "Organization",
                         "name": f"Group at {host}{path}"})
    return fed.url(host, path)


def pages(fed) -> list:
    """(host, path) of every request but robots.txt, in the order the server got them."""
    with fed.lock:
        return [(h, p) for h, p, _ in fed.log if p != "/robots.txt"]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_host_with_a_long_crawl_delay_does_not_hold_up_other_sites(fed, store, concurrency):
    fed.put("slow.test", "/robots.txt", "User-agent: *\nCrawl-delay: 2\n", content_type="text/plain")
    slow = [put_group(fed, "slow.test", f"/g{i}") for i in range(2)]
    fast = [put_group(fed, f"fast{i}.test") for i in range(12)]
    summary = Crawler(store, crawl_settings(fed, concurrency=concurrency, ping_workers=0)).crawl(slow + fast)
    assert summary.counts["new"] == 14, summary.to_dict()
    order = pages(fed)
    second_slow = max(order.index(("slow.test", f"/g{i}")) for i in range(2))
    assert all(order.index((f"fast{i}.test", "/")) < second_slow for i in range(12)), order
    starts = [e for e in fed.log if e[0] == "slow.test"]
    assert len(starts) == 3      # robots.txt and both pages: delayed, not skipped


def test_each_host_gets_its_own_queue_in_turn(fed, store):
    """Round robin between hosts: a platform with many URLs does not go first for all of them."""
    plat = [put_group(fed, "plat.test", f"/g{i}") for i in range(6)]
    other = [put_group(fed, f"o{i}.test") for i in range(3)]
    Crawler(store, crawl_settings(fed, concurrency=1, ping_workers=0, per_host_delay=0.2)).crawl(plat + other)
    order = pages(fed)
    assert all(order.index((f"o{i}.test", "/")) < order.index(("plat.test", "/g2")) for i in range(3)), order


@pytest.mark.parametrize("state", ["new", "waiting", "fetched"])
@pytest.mark.parametrize("ping_workers", [0, 2])
def test_a_ping_during_a_recrawl_goes_to_the_front(fed, tmp_path, state, ping_workers):
    known = [put_group(fed, f"k{i:02d}.test") for i in range(30)]
    late = put_group(fed, "late.test")
    store = Store(tmp_path / "store")
    Crawler(store, crawl_settings(fed)).crawl(known + ([] if state == "new" else [late]))
    fed.clear_log()
    submitted_after, targets = [], []

    def progress(done, queued, outcome):
        if done == 3:
            fetched = {h for h, _ in pages(fed)}
            # The last one still waiting: the next one may already be on its way (dequeued, not yet
            # at the server), which a loaded machine makes likely.
            waiting = [u for u in known if u.split("/")[2].split(":")[0] not in fetched][-1]
            targets.append({"new": late, "waiting": waiting, "fetched": outcome.url}[state])
            submitted_after.append(len(pages(fed)))
            assert crawler.submit(targets)

    crawler = Crawler(store, crawl_settings(fed, concurrency=1, ping_workers=ping_workers), progress=progress)
    crawler.crawl()
    store.close()
    order = pages(fed)
    host = targets[0].split("/")[2].split(":")[0]
    hits = [i for i, (h, _) in enumerate(order) if h == host]
    # Served within the next couple of requests, not after the other ~27 sources of the re-crawl.
    assert hits[-1] <= submitted_after[0] + 2, (submitted_after, order)
    # Fetched again only if it was done already, or already on its way when the ping arrived (a
    # loaded machine may start the fetch of a "waiting" URL between choosing it and the submit).
    on_its_way = state == "waiting" and len(hits) == 2 and hits[0] <= submitted_after[0] + 1
    assert len(hits) == (2 if state == "fetched" else 1) or on_its_way, (submitted_after, order)
    assert len(order) == 31 + len(hits) - 1   # every other source once


def test_a_ping_during_a_long_recrawl_is_served_before_it_ends(fresh_network):
    """Through POST /ping and the server's background thread: the re-crawl is held by a Crawl-delay."""
    net = fresh_network(BACKGROUND=False)
    fed, bg = net.fed, net.hub.background
    fed.put("plat.test", "/robots.txt", "User-agent: *\nCrawl-delay: 1\n", content_type="text/plain")
    plat = [put_group(fed, "plat.test", f"/g{i}.jsonld") for i in range(6)]
    net.hub.settings.resolve[("plat.test", fed.port)] = "127.0.0.1"
    for url in plat:
        bg.ping(url)
    bg.start()
    assert bg.wait_idle(30)
    fed.clear_log()
    bg.recrawl()
    wait_for(lambda: any(h == "plat.test" for h, _ in pages(fed)))   # the re-crawl is under way
    assert net.client.post("/ping", data={"url": fed.url("late.test")}).status_code == 202
    wait_for(lambda: net.client.get("/api/groups?q=latecomers").get_json()["total"] == 1)
    # In the directory while the re-crawl still has plat.test's pages to fetch (a second apart).
    assert sum(h == "plat.test" for h, _ in pages(fed)) < len(plat) and bg.status()["busy"]
    assert bg.wait_idle(30)
    order = pages(fed)
    last_plat = max(i for i, (h, _) in enumerate(order) if h == "plat.test")
    assert order.index(("late.test", "/")) < last_plat, order
    assert net.client.get("/api/groups?q=latecomers").get_json()["total"] == 1


# ---------------------------------------------------------------------- file descriptors over a whole crawl
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts sockets through /proc (Linux)")
@pytest.mark.parametrize("concurrency, max_idle", [(4, 2), (6, 0)])
def test_a_crawl_of_many_hosts_holds_no_more_sockets_than_in_flight_and_idle(fed, store, concurrency, max_idle):
    """The idle-connection bound through the crawler (10,000 hosts ran out of file descriptors): counted
    at every outcome, the crawler's sockets to the sites never pass its requests in flight (robots.txt
    or profile, one per worker) plus the idle ones kept."""
    urls = [put_group(fed, f"fd{i:02d}.test") for i in range(40)]
    peak = 0

    def progress(done, queued, outcome):
        nonlocal peak
        peak = max(peak, client_sockets(fed.port))

    settings = crawl_settings(fed, concurrency=concurrency, ping_workers=0, max_idle_connections=max_idle,
                              parse_workers=0,
                              keepalive_timeout=300)   # no idle socket expires mid-test on a loaded machine
    summary = Crawler(store, settings, progress=progress).crawl(urls)
    assert summary.counts["new"] == len(urls), summary.to_dict()
    assert 0 < peak <= concurrency + max_idle + 2, peak   # a couple may still be closing
    assert client_sockets(fed.port) == 0                   # the crawl's end closes them all

"""Harness of the fault-injection soak (tests/test_soak_faults.py, tests/test_soak_kills.py).

- ``FAULTS``: every way a site misbehaves in the soak (hang, 5xx, slow drip, oversize,
  invalid JSON-LD, robots.txt 5xx, redirect loops, Retry-After storms), each variant with
  the reason code its source must end with and its worst-case cost under given settings;
- ``build_fault_federation``: N sites on the one loopback ``Federation`` (Host header picks
  the site), a fraction of them faulty, every family and variant represented;
- ``never_finishes`` responders (hang, drip) and ``take_endings``: whether the crawler hung up on
  each request to them, or the site outlasted it;
- a child entry point (``python tests/soak.py CONFIG``) that runs the real crawler on a real
  store in its own process and reports its elapsed time, peak memory and open descriptors.
"""

from __future__ import annotations

import email.utils
import functools
import gzip
import json
import multiprocessing
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

from hubnet.testing import Federation, profile, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
# A hanging or dripping responder gives up after this long even if the crawler never does.
RESPONDER_LIMIT = 120.0
# A guard against a crawl process that hangs, not a speed check (bench/ measures speed).
CRAWL_GUARD = 900.0


# --------------------------------------------------------------------------- settings and the bound
def soak_settings() -> dict:
    """Small timeouts, one retry and short waits, so that faults cost seconds, not minutes
    (yet a healthy loopback answer on a loaded machine is well within them). Plain values
    (JSON for the child process); the resolve map is added by the child."""
    return dict(allow_private=True, per_host_delay=0.0, concurrency=32,
                connect_timeout=2.0, read_timeout=2.0, total_timeout=3.0,
                retries=1, retry_backoff=0.1, max_retry_after=1.5, max_crawl_delay=0.3,
                max_redirects=3, robots_max_redirects=5,
                # All 500 sites share one loopback address, one /24 and one parent domain: lift the
                # per-machine and per-domain politeness and quotas, which would otherwise serialise
                # them (those limits have their own tests: test_politeness.py, test_crawl_budgets.py).
                per_address_concurrency=32, per_subnet_concurrency=32, per_address_delay=0.0,
                per_subnet_delay=0.0, max_new_sources_per_domain=10_000, max_urls_per_host=10_000)


@dataclass(frozen=True)
class Cost:
    """A source's worst case: requests answered promptly, and requests that run into the total
    deadline (the crawler must hang up on those)."""

    quick: int = 0
    timed_out: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.quick + other.quick, self.timed_out + other.timed_out)


def quick(n: int = 1) -> Callable[[dict], Cost]:
    return lambda s: Cost(quick=n)


def retried(*, timeout: bool = False) -> Callable[[dict], Cost]:
    """One request retried ``retries`` times."""
    def cost(s: dict) -> Cost:
        attempts = s["retries"] + 1
        return Cost(timed_out=attempts) if timeout else Cost(quick=attempts)
    return cost


def hops(n_of: Callable[[dict], int]) -> Callable[[dict], Cost]:
    """A redirect chain: each hop is a request, plus a robots.txt for a hop to another host."""
    return lambda s: Cost(quick=2 * n_of(s))


# --------------------------------------------------------------------------- misbehaving responders
# The responders below never finish answering: only the crawler's deadline (total_timeout) ends
# them, by hanging up; else they give up after RESPONDER_LIMIT (or when the federation closes).
# Each records which came first, per (host, path): ``ENDINGS``, read once ``RUNNING`` is empty.
HUNG_UP, OUTLASTED = "the crawler hung up", "the site outlasted the crawler"
ENDINGS: dict = {}
RUNNING: set = set()
_ENDINGS_LOCK = threading.Lock()


def never_finishes(respond: Callable[..., bool]) -> Callable:
    """Record how each request to ``respond`` ended (it returns True once the crawler hung up)."""
    @functools.wraps(respond)
    def recorded(handler, fed) -> None:
        key = ((handler.headers.get("Host") or "").rsplit(":", 1)[0], handler.path)
        token = object()
        with _ENDINGS_LOCK:
            RUNNING.add(token)
        hung_up = False
        try:
            hung_up = respond(handler, fed)
        except OSError:   # writing to, or reading from, a connection the crawler closed
            hung_up = True
        finally:
            with _ENDINGS_LOCK:
                ENDINGS.setdefault(key, []).append(HUNG_UP if hung_up else OUTLASTED)
                RUNNING.discard(token)
    return recorded


def take_endings() -> dict:
    """{(host, path): [how each request ended]} since the last call, once none is still running."""
    wait_for(lambda: not RUNNING, timeout=RESPONDER_LIMIT + 10)
    with _ENDINGS_LOCK:
        out = dict(ENDINGS)
        ENDINGS.clear()
    return out


def _hung_up(handler, fed) -> bool:
    """Wait (up to RESPONDER_LIMIT) until the crawler closes the connection: True if it did."""
    conn, deadline = handler.connection, time.monotonic() + RESPONDER_LIMIT
    while time.monotonic() < deadline and not fed.stopping.is_set():
        if select.select([conn], [], [], 0.2)[0] and not conn.recv(4096):
            return True
    return False


@never_finishes
def hang(handler, fed) -> bool:
    """Read the request, never answer."""
    return _hung_up(handler, fed)


@never_finishes
def hang_after_headers(handler, fed) -> bool:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/ld+json")
    handler.send_header("Content-Length", "2000")
    handler.end_headers()
    handler.wfile.write(b'{"@context": ')
    return _hung_up(handler, fed)


@never_finishes
def drip_body(handler, fed) -> bool:
    """A byte every 0.2 s: always within the read timeout, never done within the total one."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/ld+json")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    for _ in range(int(RESPONDER_LIMIT / 0.2)):
        if fed.stopping.wait(0.2):
            return False
        handler.wfile.write(b" ")   # raises once the crawler has hung up
    return False


@never_finishes
def drip_headers(handler, fed) -> bool:
    """A header line every 0.3 s, forever: the response never even starts."""
    handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/ld+json\r\n")
    for n in range(int(RESPONDER_LIMIT / 0.3)):
        if fed.stopping.wait(0.3):
            return False
        handler.wfile.write(b"X-Drip-%d: x\r\n" % n)
    return False


def declared_oversize(limit: int) -> Callable:
    def respond(handler, fed) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/ld+json")
        handler.send_header("Content-Length", str(40 * limit))
        handler.end_headers()
        handler.wfile.write(b" " * 65536)
    return respond


def streamed_oversize(limit: int) -> Callable:
    """No Content-Length: four times the limit, until the crawler hangs up."""
    def respond(handler, fed) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/ld+json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = b" " * 65536
        for _ in range(4 * limit // len(chunk)):
            handler.wfile.write(chunk)
    return respond


# --------------------------------------------------------------------------- the fault table
@dataclass(frozen=True)
class Fault:
    family: str
    variant: str
    code: str                                  # the reason code the source must end with
    install: Callable                          # (fed, host, limits) -> None
    cost: Callable[[dict], Cost]               # worst case under the soak's settings


def _doc(fed, host, **extra) -> dict:
    return profile(host, f"Faulty {host}", fed.port, **extra)


def _put(path="/", body=b"", ctype="text/plain", status=200, **kw):
    return lambda fed, host, lim: fed.put(host, path, body, ctype, status, **kw)


def _respond(fn, path="/"):
    return lambda fed, host, lim: fed.put(host, path, b"", respond=fn)


def _sized(factory, path="/"):
    return lambda fed, host, lim: fed.put(host, path, b"", respond=factory(lim["max_body"]))


def _with_doc(path="/", ctype="application/ld+json", **doc_changes):
    def install(fed, host, lim):
        doc = _doc(fed, host)
        for k, v in doc_changes.items():
            doc[k] = v(fed, host) if callable(v) else v
        fed.put(host, path, doc, ctype)
    return install


def _nested(fed, host, lim):
    deep: object = "bottom"
    for _ in range(lim["max_json_depth"] + 10):
        deep = {"x": deep}
    fed.put(host, "/", {**_doc(fed, host), "http://example.org/deep": deep})


def _many_statements(fed, host, lim):
    fed.put(host, "/", _doc(fed, host, knowsAbout=[f"t{i}" for i in range(lim["max_triples"] + 1)]))


@functools.lru_cache(maxsize=1)
def _bomb(size: int) -> bytes:
    return gzip.compress(b" " * size)


def _gzip_bomb(fed, host, lim):
    """~50 KiB on the wire, 200 times max_body unpacked: a crawler that did not count
    decoded bytes would show it in its peak memory."""
    fed.put(host, "/", _bomb(200 * lim["max_body"]), headers={"Content-Encoding": "gzip"})


def _cross_host_loop(fed, host, lim):
    other = f"alt-{host}"
    fed.put(host, "/", b"", status=302, headers={"Location": fed.url(other, "/")})
    fed.put(other, "/", b"", status=302, headers={"Location": fed.url(host, "/")})


def _redirect(location: str, path="/"):
    return _put(path, status=302, headers={"Location": location})


def _chain(fed, host, lim):
    n = lim["max_redirects"] + 2
    for i in range(n):
        here = "/" if i == 0 else f"/r{i}"
        fed.put(host, here, b"", status=302, headers={"Location": f"/r{i + 1}"})


def _both(*installs):
    def install(fed, host, lim):
        for i in installs:
            i(fed, host, lim)
    return install


def _retry_after_date(fed, host, lim):
    when = email.utils.formatdate(time.time() + 3600, usegmt=True)
    fed.put(host, "/", b"slow down", "text/plain", 429, headers={"Retry-After": when})


FAULTS = [
    # hang: the deadline ends it, never the site
    Fault("hang", "no_answer", "timeout", _respond(hang), lambda s: Cost(quick=1) + retried(timeout=True)(s)),
    Fault("hang", "after_headers", "timeout", _respond(hang_after_headers),
          lambda s: Cost(quick=1) + retried(timeout=True)(s)),
    # 5xx: kept as the status; the retryable ones retried first
    *[Fault("5xx", str(code), f"http_{code}", _put(body=b"oops", status=code),
            (lambda s, r=code in (502, 503, 504): Cost(quick=1) + (retried()(s) if r else Cost(quick=1))))
      for code in (500, 501, 502, 503, 504)],
    # slow drip: within the read timeout each time, beyond the total deadline
    Fault("drip", "body", "timeout", _respond(drip_body), lambda s: Cost(quick=1) + retried(timeout=True)(s)),
    Fault("drip", "headers", "timeout", _respond(drip_headers), lambda s: Cost(quick=1) + retried(timeout=True)(s)),
    # oversize: stopped at max_body, whether declared, streamed or compressed
    Fault("oversize", "declared", "too_large", _sized(declared_oversize), quick(2)),
    Fault("oversize", "streamed", "too_large", _sized(streamed_oversize), quick(2)),
    Fault("oversize", "gzip_bomb", "too_large", _gzip_bomb, quick(2)),
    # invalid JSON-LD (and its kin): refused with what is wrong
    Fault("invalid", "not_json", "invalid_document", _put(body=b'{"@context": ', ctype="application/ld+json"),
          quick(2)),
    Fault("invalid", "too_deep", "too_deep", _nested, quick(2)),
    Fault("invalid", "too_many_statements", "too_many_triples", _many_statements, quick(2)),
    Fault("invalid", "foreign_id", "id_mismatch",
          _with_doc(**{"@id": lambda fed, host: fed.url("elsewhere.test", "/#group")}), quick(2)),
    Fault("invalid", "no_group", "no_group", _with_doc(**{"@type": "Person"}), quick(2)),
    Fault("invalid", "remote_context", "unsupported_context",
          _with_doc(**{"@context": "http://evil.test/context.jsonld"}), quick(2)),
    Fault("invalid", "html_without_jsonld", "no_jsonld", _put(body=b"<html><p>hi</p></html>", ctype="text/html"),
          quick(2)),
    Fault("invalid", "wrong_type", "bad_content_type", _put(body=b"{}", ctype="text/plain"), quick(2)),
    # robots.txt 5xx (or unreadable): the site counts as closed (RFC 9309), its profile is not fetched
    Fault("robots", "500", "robots_unreachable", _put("/robots.txt", b"down", status=500), quick(1)),
    Fault("robots", "503", "robots_unreachable", _put("/robots.txt", b"down", status=503), retried()),
    Fault("robots", "hang", "robots_unreachable", _respond(hang, "/robots.txt"), retried(timeout=True)),
    # redirect loops and chains
    Fault("redirect", "self", "redirect_loop", _redirect("/"), hops(lambda s: s["max_redirects"] + 1)),
    Fault("redirect", "two_step", "redirect_loop", _both(_redirect("/a"), _redirect("/", "/a")),
          hops(lambda s: s["max_redirects"] + 1)),
    Fault("redirect", "cross_host", "redirect_loop", _cross_host_loop, hops(lambda s: s["max_redirects"] + 1)),
    Fault("redirect", "chain", "too_many_redirects", _chain, hops(lambda s: s["max_redirects"] + 1)),
    # Retry-After storms: waited when short, the host skipped when long
    Fault("retry_after", "429_short", "http_429",
          _put(body=b"slow down", status=429, headers={"Retry-After": "1"}),
          lambda s: Cost(quick=1) + retried()(s)),
    Fault("retry_after", "503_short", "http_503",
          _put(body=b"slow down", status=503, headers={"Retry-After": "1"}),
          lambda s: Cost(quick=1) + retried()(s)),
    Fault("retry_after", "503_long", "backed_off",
          _put(body=b"slow down", status=503, headers={"Retry-After": "3600"}), quick(2)),
    Fault("retry_after", "429_date", "backed_off", _retry_after_date, quick(2)),
    Fault("retry_after", "garbage", "http_429",
          _put(body=b"slow down", status=429, headers={"Retry-After": "soon-ish"}),
          lambda s: Cost(quick=1) + retried()(s)),
    Fault("retry_after", "robots_429", "robots_unreachable",
          _put("/robots.txt", b"slow down", status=429, headers={"Retry-After": "1"}), retried()),
]
FAMILIES = sorted({f.family for f in FAULTS})


# --------------------------------------------------------------------------- the federation
@dataclass
class Plan:
    healthy: dict          # profile URL -> host
    faulty: dict           # profile URL -> Fault
    costs: dict           # profile URL -> its worst-case Cost
    hosts: list            # every host name served (faulty sites may use a second one)

    @property
    def seeds(self) -> list:
        return sorted([*self.healthy, *self.faulty])


def build_fault_federation(fed: Federation, n_sites: int, bad_share: float, s: dict) -> Plan:
    """``n_sites`` sites, ``bad_share`` of them faulty, spread evenly over the families and,
    within each family, over its variants; healthy sites vary in format and robots.txt and
    link to two other sites (faulty ones included), as real profiles do."""
    n_bad = round(n_sites * bad_share)
    by_family = {fam: [f for f in FAULTS if f.family == fam] for fam in FAMILIES}
    hosts = [f"site{i:03d}.test" for i in range(n_sites)]
    plan = Plan({}, {}, {}, list(hosts))
    for i, host in enumerate(hosts):
        url = fed.url(host, "/")
        if i < n_bad:
            variants = by_family[FAMILIES[i % len(FAMILIES)]]
            plan.faulty[url] = _install(fed, plan, url, host, variants[(i // len(FAMILIES)) % len(variants)], s)
        else:
            _healthy_site(fed, host, i, hosts)
            plan.healthy[url] = host
            plan.costs[url] = Cost(quick=2)
    return plan


def break_healthy_sites(fed: Federation, plan: Plan, s: dict) -> dict:
    """Turn one healthy site per fault variant faulty (before a re-crawl); {URL: Fault}."""
    broken = {}
    for fault, url in zip(FAULTS, sorted(plan.healthy)):
        broken[url] = _install(fed, plan, url, plan.healthy[url], fault, s)
    return broken


def _install(fed: Federation, plan: Plan, url: str, host: str, fault: Fault, s: dict) -> Fault:
    """Make ``host`` misbehave as ``fault`` says; its cost and any second host go in the plan."""
    limits = {**s, **{name: _default(name) for name in ("max_body", "max_json_depth", "max_triples")}}
    fault.install(fed, host, limits)
    if fault.variant == "cross_host":
        plan.hosts.append(f"alt-{host}")
    plan.costs[url] = fault.cost(s)
    return fault


def _healthy_site(fed: Federation, host: str, i: int, hosts: list) -> None:
    links = [fed.group_iri(hosts[(i * 7 + k) % len(hosts)]) for k in (1, 2)]
    doc = profile(host, f"Healthy group {i}", fed.port, linkedTo=links)
    if i % 5 == 0:  # a web page with the profile embedded, as site builders publish it
        page = f'<html><script type="application/ld+json">{json.dumps(doc)}</script></html>'
        fed.put(host, "/", page, "text/html")
    else:
        fed.put(host, "/", doc)
    if i % 3 == 0:
        fed.put(host, "/robots.txt", "User-agent: *\nCrawl-delay: 0.1\nDisallow: /private/\n", "text/plain")


def _default(name: str):
    from hubnet.crawler.settings import Settings
    return getattr(Settings, name)


# --------------------------------------------------------------------------- the crawl in a child process
def run_child_crawl(fed: Federation, plan: Plan, store_dir, settings: dict) -> dict:
    """Run the real crawler over ``plan.seeds`` in a fresh process; return its report."""
    config = os.path.join(os.fspath(store_dir) + ".json")
    with open(config, "w") as f:
        json.dump({"store": os.fspath(store_dir), "seeds": plan.seeds, "settings": settings,
                   "resolve": [[h, fed.port, "127.0.0.1"] for h in plan.hosts]}, f)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "soak.py"), config],
                          capture_output=True, text=True, timeout=CRAWL_GUARD)
    if proc.returncode != 0:
        raise AssertionError(f"the crawl process failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _open_fds() -> dict:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the descriptor listdir itself used, closed by now
            pass
    return out


def _multiprocessing_fds() -> list:
    """The descriptors this process keeps, once started, to the parser processes' fork server (the pipe
    whose end tells it we are gone) and to multiprocessing's resource tracker: one each for the life
    of the process, not per crawl (crawl/parsers.py)."""
    from multiprocessing import forkserver, resource_tracker

    fds = [getattr(getattr(forkserver, "_forkserver", None), "_forkserver_alive_fd", None),
           getattr(getattr(resource_tracker, "_resource_tracker", None), "_fd", None)]
    return [str(fd) for fd in fds if fd is not None]


def _child(config_path: str) -> None:
    import gc
    import threading

    from hubnet.crawler.crawl.crawler import Crawler
    from hubnet.crawler.settings import Settings
    from hubnet.crawler.store.graph import Store

    with open(config_path) as f:
        cfg = json.load(f)
    settings = Settings(**cfg["settings"], resolve={(h, p): a for h, p, a in cfg["resolve"]})
    store = Store(cfg["store"])
    gc.collect()
    fds_before, threads_before = _open_fds(), threading.active_count()
    try:  # start the peak-RSS mark here, so that it measures the crawl, not the imports
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss_before = _status_kib("VmRSS")
    start = time.monotonic()
    summary = Crawler(store, settings).crawl(cfg["seeds"])
    elapsed = time.monotonic() - start
    peak = _status_kib("VmHWM")
    gc.collect()
    fds_after, threads_after = _open_fds(), threading.active_count()
    store_dir = os.path.realpath(cfg["store"])
    new_fds = {fd: target for fd, target in fds_after.items()
               if fds_before.get(fd) != target and not target.startswith(store_dir)}
    forkserver_fds = {fd: new_fds.pop(fd) for fd in _multiprocessing_fds() if fd in new_fds}
    parsers_left = len(multiprocessing.active_children())
    store.close()
    print(json.dumps({"elapsed": elapsed, "rss_before_kib": rss_before, "rss_peak_kib": peak,
                      "new_fds": new_fds, "forkserver_fds": forkserver_fds, "parsers_left": parsers_left,
                      "fds_before": len(fds_before), "fds_after": len(fds_after),
                      "threads_before": threads_before, "threads_after": threads_after,
                      "summary": summary.to_dict()}))


if __name__ == "__main__":
    _child(sys.argv[1])

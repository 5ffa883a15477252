"""Real-browser tests: Playwright driving Debian's chromium, against real servers on loopback.

``make test`` installs chromium first (the Makefile's ``browser`` step, as root with apt-get);
without it every browser test skips saying how to install it -- the only reason they skip.
Playwright's own browser download is never used (this network reaches no browser builds).

- ``browser`` (module): one headless chromium per test module, with the flags that keep it
  from calling home (the machine's network is closed; Chromium's background fetches would fail).
  Closed with its module: while it is open, Playwright's sync API keeps an event loop running in
  the main thread, where any later file's ``asyncio.run`` (the crawler's) would fail.
- ``Hubnet`` (one per test module): the fixture network of tests/server_helpers.py on a
  loopback federation, a real ``hubnet-node serve`` for one more group, crawled, then a real
  ``hubnet-crawler serve --allow-private`` aggregator, and a loopback tile server for the map.
- ``Tab``: a page that records console errors, page errors and any request that would leave
  loopback; ``check_clean()`` fails the test on any of them; screenshots are kept under
  ``test-artifacts/browser/`` (git-ignored; ``HUBNET_TEST_ARTIFACTS`` moves it).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("HUBNET_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("HUBNET_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
NODE_PASSWORD = "browser test password 1"
NODE_NAME = "Elm Road Residents"


def command(name: str) -> list:
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m",
                                                  {"hubnet-node": "hubnet.node", "hubnet-crawler": "hubnet.crawler.cli"}[name]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: run `make browser` as root (it runs apt-get install "
                    "chromium), or `sudo apt-get install chromium`, or set HUBNET_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # Playwright's launch gives the browser a fresh, temporary user-data-dir of its own.
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Tab:
    """One browser page that remembers what went wrong on it."""

    def __init__(self, context, test_name: str):
        self.context = context
        self.page = context.new_page()
        self.name = test_name
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.allowed_errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", self._request)

    def _request(self, req) -> None:
        host = urlsplit(req.url).hostname or ""
        if req.url.startswith(("data:", "blob:", "about:")) or host == "127.0.0.1" or host == "localhost":
            return
        self.outside.append(req.url)

    def open(self, url: str, status: int = 200):
        resp = self.page.goto(url, wait_until="load")
        assert resp is not None and resp.status == status, (url, resp and resp.status)
        return resp

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png".replace("/", "_")
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_clean(self) -> None:
        self.page.wait_for_load_state("networkidle")   # late requests (icons, tiles) report too
        errors = [e for e in self.errors if not any(a in e for a in self.allowed_errors)]
        assert not errors, "errors in the browser:\n" + "\n".join(errors)
        assert not self.outside, f"requests left the machine: {self.outside}"


@pytest.fixture
def tab_factory(browser, request):
    made = []

    def make(**context_options) -> Tab:
        ctx = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
        name = request.node.name.replace("[", "-").replace("]", "")
        tab = Tab(ctx, f"{name}-{len(made)}" if made else name)
        made.append(tab)
        return tab

    yield make
    for tab in made:
        tab.context.close()


@pytest.fixture
def tab(tab_factory) -> Tab:
    return tab_factory()


def axe_problems(page) -> list[str]:
    """Serious and critical WCAG 2.2 A/AA violations axe-core finds on the page, as readable lines."""
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    out = []
    for v in result.response["violations"]:
        if v.get("impact") in ("serious", "critical"):
            targets = [" ".join(map(str, n["target"])) for n in v["nodes"]][:5]
            out.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return out


def overflow(page) -> dict | None:
    """None when the page fits its viewport's width; else the width and the widest elements."""
    return page.evaluate("""() => {
      const doc = document.documentElement, width = doc.clientWidth;
      if (doc.scrollWidth <= width) return null;
      const wide = [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > width + 1)
        .slice(0, 8).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                                (e.className && typeof e.className === 'string' ? '.' + e.className : ''));
      return {scrollWidth: doc.scrollWidth, width, wide};
    }""")


# ------------------------------------------------------------------------- tiles on loopback
def _grey_png(size: int = 256) -> bytes:
    raw = b"".join(b"\x00" + b"\xdd" * size for _ in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class TileServer:
    """Answers every path with a grey tile and counts the requests: the map never leaves loopback."""

    def __init__(self):
        tile, self.requests = _grey_png(), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/{{z}}/{{x}}/{{y}}.png"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ------------------------------------------------------------------------- a node and an aggregator
def _get(url: str, timeout: float = 2.0):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _wait_http(proc, url: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: the server stopped ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if _get(url)[0] < 500:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


class Hubnet:
    """The fixture network, one node (subprocess) and the aggregator (subprocess) serving the crawl."""

    def __init__(self, workdir: Path):
        from hubnet.crawler.store.graph import Store
        from hubnet.testing import Federation
        from hubnet.node import state
        from server_helpers import HOSTS, build_sites, crawl

        self.workdir, self.procs = workdir, []
        self.tiles = TileServer()
        self.fed = Federation()
        seeds = build_sites(self.fed)
        self.node_port, self.agg_port = free_port(), free_port()
        self.node_url = f"http://127.0.0.1:{self.node_port}"
        self.agg_url = f"http://127.0.0.1:{self.agg_port}"
        self.node_iri = self.node_url + "/#group"

        node_dir = workdir / "node"
        (node_dir / "state").mkdir(parents=True)
        doc = {"@context": "https://w3id.org/hubnet/context.jsonld", "@id": self.node_iri,
               "@type": "Organization", "name": NODE_NAME,
               "description": "Neighbours on Elm Road: street parties and a tool library.",
               "url": self.node_url + "/", "email": "hello@elmroad.test", "additionalType": "residents-association",
               "knowsAbout": ["street parties", "tool library"],
               "areaServed": {"@type": "AdministrativeArea", "name": "Leyton ward"},
               "location": {"@type": "Place", "address": {"@type": "PostalAddress", "addressLocality": "Leyton"},
                            "geo": {"@type": "GeoCoordinates", "latitude": 51.5600, "longitude": -0.0150}},
               "memberOf": self.fed.group_iri("network.test")}
        (node_dir / "profile.jsonld").write_text(json.dumps(doc, indent=2), encoding="utf-8")
        (node_dir / "node.toml").write_text(
            'profile = "profile.jsonld"\nstate_dir = "state"\n'
            f'aggregators = ["{self.agg_url}"]\nping_timeout = 5\n', encoding="utf-8")
        state.set_password(node_dir / "state", NODE_PASSWORD)
        try:
            self._spawn("node", command("hubnet-node") + ["serve", "--config", str(node_dir / "node.toml"),
                                                         "--port", str(self.node_port)], node_dir,
                        self.node_url + "/profile.jsonld")
            store_path = workdir / "store"
            # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
            worker = threading.Thread(target=self._crawl, args=(crawl, Store(store_path), seeds))
            worker.start()
            worker.join()
            resolves = [a for h in HOSTS for a in ("--resolve", f"{h}:{self.fed.port}:127.0.0.1")]
            self._spawn("aggregator", command("hubnet-crawler") + [
                "serve", "--store", str(store_path), "--port", str(self.agg_port), "--allow-private",
                *resolves, "--tiles", self.tiles.url, "--tile-attribution", "Test tiles"], workdir,
                self.agg_url + "/health")
        except BaseException:
            self.close()
            raise
        self._keys = None

    def _crawl(self, crawl, store, seeds) -> None:
        try:
            crawl(self.fed, store, seeds + [self.node_url + "/"])
        finally:
            store.close()

    def _spawn(self, name: str, argv: list, cwd: Path, ready_url: str) -> None:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            # Started before any test's own fixtures: say here too that the node's postcode lookup is off
            # (no test reaches the internet).
            env = {**os.environ, "HUBNET_NODE_GEOCODER": "off"}
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append(proc)
        _wait_http(proc, ready_url, log)

    def api(self, path: str):
        status, body = _get(self.agg_url + path, timeout=10)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def key(self, name: str) -> str:
        if self._keys is None:
            self._keys = {g["name"]: g["key"] for g in self.api("/api/groups?limit=1000")["groups"]}
        return self._keys[name]

    def group_url(self, name: str) -> str:
        return self.agg_url + "/groups/" + quote(self.key(name), safe="")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []
        self.fed.close()
        self.tiles.close()


@pytest.fixture(scope="module")
def hubnet(browser, tmp_path_factory):
    """Depends on ``browser`` so that, without chromium, nothing is started just to be skipped."""
    h = Hubnet(tmp_path_factory.mktemp("hubnet"))
    yield h
    h.close()


@pytest.fixture(scope="module")
def editor_state(browser, hubnet) -> dict:
    """A logged-in editor session (cookies), made once per module: logins are rate-limited."""
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(hubnet.node_url + "/login")
    page.fill("#password", NODE_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/edit")
    state = ctx.storage_state()
    ctx.close()
    return state

"""hubnet.testing: a fake federation on loopback, one HTTP server, many sites chosen by the Host header.

Tests map names like ``alpha.test`` to this server with ``Settings.resolve``
(the crawler's ``--resolve``; ``fed.settings()`` builds those crawl settings), so one process on
127.0.0.1 plays many independent websites. Each site is a dict of path -> Page; tests edit pages
between crawls and read the request log to see exactly what the crawler did. Conditional
requests get ETags and 304s. Shipped in the package so the tests, the example federation
(examples/federation/) and the bench serve sites the same way.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTEXT = "https://w3id.org/hubnet/context.jsonld"
LOOPBACK = "127.0.0.1"


def loopback_settings(port: int, hosts, **kw):
    """Crawl settings for sites served on 127.0.0.1:``port``: each of ``hosts`` resolves to loopback,
    private addresses are allowed (loopback is one), no per-host delay and no retries. ``kw`` overrides."""
    from hubnet.crawler.settings import Settings

    base = dict(allow_private=True, per_host_delay=0.0, retries=0, resolve={(h, port): LOOPBACK for h in hosts})
    base.update(kw)
    return Settings(**base)


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; return its value or fail (AssertionError) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(interval)


@dataclass
class Page:
    body: bytes = b""
    content_type: str = "application/ld+json"
    status: int = 200
    headers: dict = field(default_factory=dict)
    etag: bool = True          # answer conditional requests with 304


def profile(host: str, name: str, port: int, **extra) -> dict:
    """A small valid hubnet profile for a group at http://host:port/."""
    doc = {
        "@context": CONTEXT,
        "@id": f"http://{host}:{port}/#group",
        "@type": "Organization",
        "name": name,
        "description": f"{name} works with neighbours on local things.",
        "email": f"hello@{host}",
        "knowsAbout": ["community"],
    }
    doc.update(extra)
    return doc


class Federation:
    def __init__(self):
        self.sites: dict[str, dict[str, Page]] = {}
        self.log: list[tuple[str, str, dict]] = []   # (host, path, headers)
        self.lock = threading.Lock()
        fed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                path = self.path.split("?")[0]
                with fed.lock:
                    fed.log.append((host, path, dict(self.headers)))
                    page = fed.sites.get(host, {}).get(path)
                if page is None:
                    if path == "/robots.txt":
                        return self._send(404, b"", "text/plain")
                    return self._send(404, b"not here", "text/plain")
                tag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
                headers = dict(page.headers)
                if page.etag and page.status == 200:
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        return self._send(304, b"", None, headers)
                self._send(page.status, page.body, page.content_type, headers)

            def _send(self, status, body, ctype, headers=None):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------------ building sites
    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    def group_iri(self, host: str) -> str:
        return self.url(host, "/#group")

    def put(self, host: str, path: str, body, content_type="application/ld+json", status=200, **kw) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        elif isinstance(body, str):
            body = body.encode("utf-8")
        with self.lock:
            self.sites.setdefault(host, {})[path] = Page(body, content_type, status, **kw)

    def put_profile(self, host: str, name: str, path: str = "/profile.jsonld", **extra) -> dict:
        doc = profile(host, name, self.port, **extra)
        self.put(host, path, doc)
        return doc

    def remove(self, host: str, path: str) -> None:
        with self.lock:
            self.sites.get(host, {}).pop(path, None)

    def resolve_map(self, *hosts) -> dict:
        return {(h, self.port): LOOPBACK for h in (hosts or self.sites)}

    def settings(self, *hosts, **kw):
        """Crawl settings that reach ``hosts`` (default: every site so far) on this server."""
        return loopback_settings(self.port, hosts or tuple(self.sites), **kw)

    def requests_to(self, host: str, path: str | None = None) -> list:
        with self.lock:
            return [e for e in self.log if e[0] == host and (path is None or e[1] == path)]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

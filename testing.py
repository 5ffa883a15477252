"""hubnet.testing: a fake federation on loopback, one HTTP server, many sites chosen by the Host header.

Tests map names like ``alpha.test`` to this server with ``Settings.resolve``
(the crawler's ``--resolve``; ``fed.settings()`` builds those crawl settings), so one process on
127.0.0.1 plays many independent websites. Each site is a dict of path -> Page; tests edit pages
between crawls and read the request log to see exactly what the crawler did. Conditional
requests get ETags and 304s. With a folder (``Federation(root)``, or ``python -m hubnet.testing
--root DIR --port N``) it is the example federation's static web host too (``make demo``).
A page with a ``respond`` callable misbehaves however it likes (hang, drip, stream too much):
tests/soak.py builds its faulty sites that way.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

CONTEXT = "https://w3id.org/hubnet/context.jsonld"
LOOPBACK = "127.0.0.1"


def loopback_settings(port: int, hosts, **kw):
    """Crawl settings for sites served on 127.0.0.1:``port``: each of ``hosts`` resolves to loopback,
    private addresses are allowed (loopback is one), no per-host delay and no retries. ``kw`` overrides."""
    from hubnet.crawler.settings import Settings

    base = dict(allow_private=True, per_host_delay=0.0, retries=0, resolve={(h, port): LOOPBACK for h in hosts},
                geocoder="off")   # tests never reach a public geocoder; geocoding tests name a fake one
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
    # Writes the whole response itself, given the request handler and the Federation
    # (instead of status/body above): for faults no static page can express.
    respond: Callable | None = None


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


# Files a folder site serves, by extension (and the one well-known name without one).
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".jsonld": "application/ld+json",
    ".json": "application/json",
    ".ttl": "text/turtle; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".css": "text/css; charset=utf-8",
}
NAMED = {".well-known/hubnet": "application/json"}
HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) drops connections when a crawler opens dozens at once;
    # the kernel resends the SYN only after a second, which looks like a dead site.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        """A crawler hanging up on a misbehaving page is expected: no traceback for that."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Federation:
    """Many websites on one loopback HTTP server, each chosen by the request's Host header.

    A site is either pages held in memory (``put``, ``put_profile``: what tests edit between
    crawls) or, with ``root``, a folder ``root/<host>/`` of plain files served as an ordinary static
    web host would (the example federation's static sites): media type by extension, ``index.html``
    for a folder, no dotfiles but ``.well-known/``, ETag and Last-Modified with 304s, and for a
    name it does not host a page listing the sites it does. Every request is logged.
    """

    def __init__(self, root=None, *, host: str = LOOPBACK, port: int = 0, quiet: bool = True):
        self.sites: dict[str, dict[str, Page]] = {}
        self.root = Path(root).resolve() if root is not None else None
        self.log: list[tuple[str, str, dict]] = []   # (host, path, headers)
        self.lock = threading.Lock()
        self.stopping = threading.Event()   # set by close(): hanging responders return
        self.latency = 0.0                  # seconds every answer waits: a slower, more realistic web
        fed = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "hubnet-testing/1.0"

            def log_message(self, fmt, *args):  # quiet unless asked
                if not quiet:
                    sys.stderr.write(f"{self.headers.get('Host', '-')} {fmt % args}\n")

            def do_HEAD(self):
                self._serve(head=True)

            def do_GET(self):
                self._serve(head=False)

            def _serve(self, head: bool):
                if fed.latency:
                    time.sleep(fed.latency)
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip().lower().rstrip(".")
                path = self.path.split("?")[0]
                with fed.lock:
                    fed.log.append((host, path, dict(self.headers)))
                    page = fed.sites.get(host, {}).get(path)
                if page is not None and page.respond is not None:
                    self.close_connection = True  # whatever it did, do not reuse the connection
                    try:
                        return page.respond(self, fed)
                    except OSError:  # the crawler gave up and closed: what a misbehaving page wants
                        return
                if page is None and fed.root is not None:
                    return self._serve_folder(host, head)
                if page is None:
                    if path == "/robots.txt":
                        return self._send(404, b"", "text/plain", head=head)
                    return self._send(404, b"not here", "text/plain", head=head)
                tag = '"' + hashlib.sha256(page.body).hexdigest()[:16] + '"'
                headers = dict(page.headers)
                if page.etag and page.status == 200:
                    headers["ETag"] = tag
                    if self.headers.get("If-None-Match") == tag:
                        return self._send(304, b"", None, headers, head=True)
                self._send(page.status, page.body, page.content_type, headers, head=head)

            # ---------------------------------------------------------- a folder of static sites
            def _serve_folder(self, host: str, head: bool):
                site = fed.root / host if HOST_RE.match(host) else None
                if site is None or not site.is_dir():
                    status = 200 if host.strip("[]") in (LOOPBACK, "localhost", "::1") else 404
                    return self._send(status, fed._listing(status, self.server.server_address[1]),
                                      "text/html; charset=utf-8", head=head)
                target, rel = _file_in(site, unquote(urlsplit(self.path).path))
                if target is None:
                    return self._send(404, b"Not found\n", "text/plain; charset=utf-8", head=head)
                body = target.read_bytes()
                ctype = NAMED.get(rel) or TYPES.get(target.suffix.lower(), "application/octet-stream")
                etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
                mtime = int(target.stat().st_mtime)
                headers = {"ETag": etag, "Last-Modified": formatdate(mtime, usegmt=True), "Cache-Control": "no-cache"}
                if _not_modified(self.headers, etag, mtime):
                    return self._send(304, b"", None, headers, head=True)
                self._send(200, body, ctype, headers, head=head)

            def _send(self, status, body, ctype, headers=None, head=False):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and not head:
                    self.wfile.write(body)

        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _listing(self, status: int, port: int) -> bytes:
        sites = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        items = "".join(f'<li><a href="http://{html.escape(s)}:{port}/">{html.escape(s)}</a></li>' for s in sites)
        heading = "Sites on this host" if status == 200 else "No site by that name here"
        return (f"<!DOCTYPE html><meta charset=utf-8><title>Example static host</title>"
                f"<h1>{heading}</h1><p>This server hosts {len(sites)} sites, each chosen by the name in "
                f"the address (browsers send it as the Host header):</p><ul>{items}</ul>").encode("utf-8")

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
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def _file_in(site: Path, path: str) -> tuple[Path | None, str]:
    """The file a URL path names inside ``site`` (None for dotfiles, escapes and missing files)."""
    rel = path.lstrip("/")
    parts = [p for p in rel.split("/") if p]
    if any(p in (".", "..") for p in parts):
        return None, rel
    if any(p.startswith(".") for p in parts) and not rel.startswith(".well-known/"):
        return None, rel
    target = (site / rel).resolve()
    if target != site and site not in target.parents:
        return None, rel
    if target.is_dir():
        target = target / "index.html"
        rel = (rel.rstrip("/") + "/index.html").lstrip("/")
    return (target if target.is_file() else None), rel


def _not_modified(headers, etag: str, mtime: int) -> bool:
    inm = headers.get("If-None-Match")
    if inm is not None:
        return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = headers.get("If-Modified-Since")
    if ims:
        try:
            return mtime <= parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def main(argv=None) -> int:
    """``python -m hubnet.testing --root DIR --port N``: serve a folder of static sites (``make demo``)."""
    ap = argparse.ArgumentParser(description="Serve ROOT/<host>/ as many static sites on one port, "
                                             "chosen by the Host header.")
    ap.add_argument("--root", required=True, help="folder holding one sub-folder per host name")
    ap.add_argument("--host", default=LOOPBACK, help=f"address to listen on (default {LOOPBACK})")
    ap.add_argument("--port", type=int, default=8200, help="port to listen on (default 8200)")
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    args = ap.parse_args(argv)
    try:
        fed = Federation(args.root, host=args.host, port=args.port, quiet=args.quiet)
    except OSError as exc:
        print(f"hubnet.testing: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"static host serving {args.root} at http://{args.host}:{fed.port}/", file=sys.stderr, flush=True)
    try:
        fed.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        fed.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

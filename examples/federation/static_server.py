#!/usr/bin/env python3
"""A tiny static web host for the example federation: many sites on one port, chosen by the Host header.

It plays the part of the ordinary web hosting (GitHub Pages, a shared host's
public_html, a WordPress site) that groups without a server of their own use.
ROOT holds one folder per site, named by its host name::

    ROOT/friends-of-hollow-pond.localhost/index.html, profile.jsonld, .well-known/hubnet, ...
    ROOT/st-marks-leybridge.localhost/index.html

A request for ``http://friends-of-hollow-pond.localhost:8200/`` is answered from
the first folder. Like a real static host it knows nothing about hubnet: it
sends files with their usual media types, an ETag and Last-Modified (so
re-crawls cost a 304), ``index.html`` for a folder, and 404 for anything else.
A request naming no known site gets a page listing the sites it hosts.

    python examples/federation/static_server.py --root DIR --port 8200
"""

from __future__ import annotations

import argparse
import hashlib
import html
import re
import sys
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".jsonld": "application/ld+json",
    ".json": "application/json",
    ".ttl": "text/turtle; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".css": "text/css; charset=utf-8",
}
# Files without an extension that a static host must still type correctly.
NAMED = {".well-known/hubnet": "application/json"}
HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


def make_handler(root: Path, quiet: bool = False):
    root = root.resolve()

    class Handler(BaseHTTPRequestHandler):
        server_version = "example-static-host/1.0"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stderr.write(f"{self.headers.get('Host', '-')} {fmt % args}\n")

        def do_HEAD(self):
            self._serve(head=True)

        def do_GET(self):
            self._serve(head=False)

        # ---------------------------------------------------------------- routing
        def _site(self) -> Path | None:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip().lower().rstrip(".")
            if not HOST_RE.match(host):
                return None
            site = root / host
            return site if site.is_dir() else None

        def _file(self, site: Path) -> tuple[Path | None, str]:
            path = unquote(urlsplit(self.path).path)
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

        def _serve(self, head: bool) -> None:
            site = self._site()
            if site is None:
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
                status = 200 if host in ("127.0.0.1", "localhost", "::1") else 404
                return self._send(status, self._directory_page(status), "text/html; charset=utf-8", head=head)
            target, rel = self._file(site)
            if target is None:
                return self._send(404, b"Not found\n", "text/plain; charset=utf-8", head=head)
            body = target.read_bytes()
            ctype = NAMED.get(rel) or TYPES.get(target.suffix.lower(), "application/octet-stream")
            etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
            mtime = int(target.stat().st_mtime)
            headers = {"ETag": etag, "Last-Modified": formatdate(mtime, usegmt=True), "Cache-Control": "no-cache"}
            if self._not_modified(etag, mtime):
                return self._send(304, b"", None, headers, head=True)
            self._send(200, body, ctype, headers, head=head)

        def _not_modified(self, etag: str, mtime: int) -> bool:
            inm = self.headers.get("If-None-Match")
            if inm is not None:
                return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
            ims = self.headers.get("If-Modified-Since")
            if ims:
                try:
                    return mtime <= parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError):
                    return False
            return False

        def _directory_page(self, status: int) -> bytes:
            port = self.server.server_address[1]
            sites = sorted(p.name for p in root.iterdir() if p.is_dir())
            items = "".join(f'<li><a href="http://{html.escape(s)}:{port}/">{html.escape(s)}</a></li>' for s in sites)
            heading = "Sites on this host" if status == 200 else "No site by that name here"
            return (f"<!DOCTYPE html><meta charset=utf-8><title>Example static host</title>"
                    f"<h1>{heading}</h1><p>This server hosts {len(sites)} sites, each chosen by the name in "
                    f"the address (browsers send it as the Host header):</p><ul>{items}</ul>").encode("utf-8")

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

    return Handler


def serve(root: Path, host: str = "127.0.0.1", port: int = 8200, quiet: bool = False) -> ThreadingHTTPServer:
    """A started-but-not-running server (call ``serve_forever``)."""
    server = ThreadingHTTPServer((host, port), make_handler(Path(root), quiet))
    server.daemon_threads = True
    return server


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="folder holding one sub-folder per host name")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8200, help="port to listen on (default 8200)")
    ap.add_argument("--quiet", action="store_true", help="do not log requests")
    args = ap.parse_args(argv)
    try:
        server = serve(Path(args.root), args.host, args.port, args.quiet)
    except OSError as exc:
        print(f"static_server: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"static host serving {args.root} at http://{args.host}:{args.port}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

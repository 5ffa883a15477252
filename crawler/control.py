"""The CLI's way in while ``serve`` holds the store: a Unix socket in the store directory.

Why not open the store read-only beside the server? pyoxigraph documents that
opening a store read-only while another process writes it is undefined
behaviour (RocksDB may delete files under the reader), and it has no secondary
mode. Why not the public HTTP API? It is rate-limited, paged and capped for
strangers, it cannot forget a source or take a backup, and anything it allowed
for the operator it would allow for everyone behind the proxy (whose requests
all come from 127.0.0.1). The socket is ``<store>/control.sock``, mode 0600:
whoever may connect could read the store's files anyway, so it adds no
authority; each request is logged with the caller's uid (SO_PEERCRED).

Protocol: one JSON line ``{"op": ..., "args": {...}}``; one JSON line back,
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": {...}}``; ``export``
then streams the N-Quads/TriG bytes until the server closes the connection.

The same ``OPS`` run in the CLI's own process when no server holds the store
(cli.py), so both paths print the same thing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import socketserver
import sqlite3
import struct
import threading
import time
from pathlib import Path

from hubnet.vocab.errors import HubnetError

from hubnet.crawler.crawl.netpolicy import canonical_url
from hubnet.crawler.store import blocklist
from hubnet.vocab.errors import FetchError
from hubnet.crawler.store.index import Search, index_path, open_index
from .logs import event, ms

SOCKET_NAME = "control.sock"
_MAX_AF_UNIX = 100      # sun_path holds 108 bytes; longer paths are reached through /proc/self/fd
_MAX_REQUEST = 64 * 1024   # one request line: a query (at most sparql.MAX_QUERY_BYTES) and its options


class Context:
    """What an operation works on: the store, the text index, and what to do after a change."""

    def __init__(self, store, index=None, changed=None, queries=None, settings=None):
        self.store = store
        self.settings = settings   # the crawl settings (limits an import obeys); None: the defaults
        self.queries = queries   # the server's QueryService: its worker processes, time limit and row cap
        self._index = index
        # Our own index (the CLI holding the store) is brought in step before use, as the server's
        # is at start: a store crawled by a script or restored without its index still answers.
        self._own_index = index is None
        self.changed = changed or (lambda: None)

    @property
    def index(self):
        if self._index is None:
            self._index = open_index(self.store)
            self._index.sync(self.store)
        return self._index

    def close(self) -> None:
        if self._own_index and self._index is not None:
            self._index.close()


# ----------------------------------------------------------------------------- operations
def op_sources(ctx: Context, args: dict) -> dict:
    records = sorted(ctx.store.sources().values(), key=lambda r: r.url)
    return {"sources": [r.to_dict() for r in records], "forgotten": blocklist.entries(ctx.store)}


_MEDIA = {"table": "application/sparql-results+json", "json": "application/sparql-results+json",
          "csv": "text/csv", "tsv": "text/tab-separated-values"}


def op_query(ctx: Context, args: dict) -> dict:
    """In the CLI's own process: no limits (Ctrl-C stops it). In the server: through its query
    workers, with /sparql's time limit and row cap, so a runaway query cannot stall the hub."""
    from hubnet.crawler.query.sparql import format_table, run_query
    text, fmt = str(args["sparql"]), str(args.get("format", "table"))
    if fmt not in _MEDIA:
        raise HubnetError(f"unknown format {fmt[:20]!r}", code="bad_request", status=400)
    if ctx.queries is None:
        return {"text": run_query(ctx.store, text, fmt)}
    res = ctx.queries.execute(text, results_format=_MEDIA[fmt], graph_format="application/n-triples")
    body = res.body.decode("utf-8")
    if fmt == "table" and res.kind == "select":
        data = json.loads(body)
        names = data["head"]["vars"]
        rows = [[_term(b.get(v)) for v in names] for b in data["results"]["bindings"]]
        body = format_table(names, rows)
    elif fmt == "table" and res.kind == "boolean":
        body = "true\n" if json.loads(body)["boolean"] else "false\n"
    note = f"# stopped at {res.count} rows: the server's row cap (use /sparql with LIMIT/OFFSET)\n" \
        if res.truncated else ""
    return {"text": body, "note": note}


def _term(binding):
    """A SPARQL JSON binding as the pyoxigraph term ``format_table`` prints."""
    import pyoxigraph as ox
    if binding is None:
        return None
    kind = {"uri": ox.NamedNode, "bnode": ox.BlankNode}.get(binding["type"], ox.Literal)
    return kind(binding["value"])


def op_groups(ctx: Context, args: dict) -> dict:
    near = tuple(args["near"]) if args.get("near") else None
    s = Search(q=str(args.get("q") or ""), topic=args.get("topic"), kind=args.get("kind"), area=args.get("area"),
               near=near, within_km=args.get("within_km"), limit=int(args.get("limit") or 100),
               offset=int(args.get("offset") or 0))
    found = ctx.index.search(s)
    return {"total": found["total"], "groups": [{k: g.get(k) for k in GROUP_FIELDS} for g in found["groups"]]}


GROUP_FIELDS = ("key", "name", "kind", "topics", "area", "url", "lat", "lon", "id", "source")


def op_forget(ctx: Context, args: dict) -> dict:
    done = blocklist.forget(ctx.store, _canonical(str(args["url"])), str(args.get("reason") or ""))
    ctx.changed()
    return done


def op_unforget(ctx: Context, args: dict) -> dict:
    return blocklist.unforget(ctx.store, _canonical(str(args["url"])))


def op_backup(ctx: Context, args: dict) -> dict:
    """Copy the store to a new directory usable as ``--store``: pyoxigraph's online backup (a
    consistent snapshot, hard links on the same file system), and the text index through
    SQLite's backup API (derived data: the server would rebuild it, but a copy saves the wait)."""
    target = Path(str(args["target"]))
    if target.exists():
        raise HubnetError(f"{target} already exists: give a new directory for each backup",
                          code="backup_exists", status=409)
    started = time.monotonic()
    target.mkdir(parents=True)
    try:
        ctx.store.backup(target / "oxigraph")
        source = index_path(ctx.store)
        if source is not None and source.exists():
            with contextlib.closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)) as src, \
                    contextlib.closing(sqlite3.connect(target / source.name)) as dst:
                src.backup(dst)
    except (OSError, sqlite3.Error) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise HubnetError(f"the backup to {target} failed: {exc}", code="store_error", status=503) from None
    return {"backup": str(target), "duration_ms": ms(time.monotonic() - started)}


def op_import(ctx: Context, args: dict) -> dict:
    """``hubnet-crawler import``: the whole file checked first, then stored as second-hand sources."""
    from hubnet.crawler.importer import import_file
    from hubnet.crawler.settings import Settings

    report = import_file(ctx.store, Path(str(args["path"])), ctx.settings or Settings(),
                         fmt=args.get("format") or None, origin=args.get("from") or None)
    ctx.changed()
    return report.to_dict()


OPS = {"sources": op_sources, "query": op_query, "groups": op_groups, "forget": op_forget,
       "unforget": op_unforget, "backup": op_backup, "import": op_import}
STREAMS = {"export"}   # answered with a header line, then bytes


def export_to(ctx: Context, out, fmt: str) -> None:
    from hubnet.crawler.store.graph import export_store
    export_store(ctx.store, out, fmt)


# ----------------------------------------------------------------------------- addresses
@contextlib.contextmanager
def _address(path: Path):
    """An AF_UNIX address for ``path``: itself, or through /proc/self/fd when too long for sun_path."""
    text = str(path)
    if len(text.encode()) < _MAX_AF_UNIX:
        yield text
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def socket_path(store_path) -> Path:
    return Path(store_path).resolve() / SOCKET_NAME


# ----------------------------------------------------------------------------- server
class ControlServer:
    """Serves OPS on ``<store>/control.sock`` in one thread, for as long as ``serve`` runs.

    One request at a time: it is the operator's channel, not a public one, and one thread
    keeps one index connection (a thread per request would leave one open per request).
    ``timeout`` bounds each read and write, so a stuck client cannot hold the channel.
    """

    def __init__(self, ctx: Context, store_path, timeout: float = 60.0):
        self.ctx = ctx
        self.path = socket_path(store_path)
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def setup(self):
                self.request.settimeout(timeout)
                super().setup()

            def handle(self):
                outer._handle(self.connection, self.rfile, self.wfile)

        Server = socketserver.UnixStreamServer

        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()   # left by a server that was killed: we hold the store's lock, it is gone
        old = os.umask(0o177)
        try:
            with _address(self.path) as addr:
                self.server = Server(addr, Handler)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self.thread = threading.Thread(target=self.server.serve_forever, name="hubnet-control", daemon=True)

    def start(self) -> "ControlServer":
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _handle(self, conn, rfile, wfile) -> None:
        started = time.monotonic()
        who = _peer(conn)
        op, outcome, fields = "?", "ok", {}
        try:
            line = rfile.readline(_MAX_REQUEST)
            request = json.loads(line)
            op, args = str(request.get("op")), dict(request.get("args") or {})
            if op in STREAMS:
                wfile.write(b'{"ok": true, "stream": true}\n')
                export_to(self.ctx, wfile, str(args.get("format", "nquads")))
            elif op in OPS:
                result = OPS[op](self.ctx, args)
                wfile.write(json.dumps({"ok": True, "result": result}).encode() + b"\n")
                if op in ("forget", "unforget", "backup", "import"):
                    fields = {k: (len(v) if op == "import" and isinstance(v, list) else v)   # an import's
                              for k, v in result.items() if k != "duration_ms"}        # record lists: counts
            else:
                raise HubnetError(f"unknown operation {op[:40]!r}", code="bad_request", status=400)
        except HubnetError as exc:
            outcome, fields = "refused", {"code": exc.code, "message": exc.message}
            _reply_error(wfile, exc)
        except (ValueError, KeyError, TypeError) as exc:
            outcome, fields = "refused", {"code": "bad_request"}
            _reply_error(wfile, HubnetError(f"bad request: {exc}", code="bad_request", status=400))
        except OSError:
            outcome = "disconnected"
        event("control", who=who, what=op, outcome=outcome, duration_ms=ms(time.monotonic() - started), **fields)


def _reply_error(wfile, exc: HubnetError) -> None:
    with contextlib.suppress(OSError):
        wfile.write(json.dumps(exc.to_dict()).encode() + b"\n")


def _peer(conn) -> str:
    try:
        _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
        return f"cli uid={uid}"
    except (OSError, AttributeError):
        return "cli"


# ----------------------------------------------------------------------------- client
def _connect(store_path) -> socket.socket | None:
    """A connection to the server holding ``store_path``, or None if no server listens there."""
    path = socket_path(store_path)
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _address(path) as addr:
            sock.connect(addr)
    except OSError:
        sock.close()
        return None
    return sock


def call(store_path, op: str, args: dict) -> dict | None:
    """Run ``op`` in the server holding the store; its result, or None if no server answers.
    A refusal comes back as the server's HubnetError."""
    sock = _connect(store_path)
    if sock is None:
        return None
    with sock, sock.makefile("rwb") as f:
        f.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
        f.flush()
        return _read_reply(f)["result"]


def stream(store_path, op: str, args: dict, out) -> bool:
    """Copy a streamed answer (``export``) to ``out``; False if no server answers."""
    sock = _connect(store_path)
    if sock is None:
        return False
    with sock, sock.makefile("rwb") as f:
        f.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
        f.flush()
        _read_reply(f)
        shutil.copyfileobj(f, out)
    return True


def _read_reply(f) -> dict:
    line = f.readline()
    if not line:
        raise HubnetError("the server closed the control connection without answering; see its log",
                          code="store_error", status=503)
    reply = json.loads(line)
    if not reply.get("ok"):
        err = reply.get("error") or {}
        raise HubnetError(err.get("message", "refused"), code=err.get("code", "error"),
                          status=err.get("status", 400))
    return reply


def _canonical(url: str) -> str:
    """The block list's spelling of ``url``: the crawler's canonical URL (the one it fetches and stores)."""
    try:
        return canonical_url(url.strip())
    except FetchError as exc:
        raise HubnetError(f"{url[:200]!r} is not an address the crawler could fetch: {exc.message}",
                          code="bad_url", status=400) from None

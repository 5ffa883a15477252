"""Loopback-only fixture servers and a connect spy for tests/test_fetch.py.

Not collected by pytest (the name does not start with ``test_``). Every server binds
127.0.0.1 on port 0 and runs on an event loop in a daemon thread, so the fetcher under test
runs on its own loop in the main thread exactly as in production.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import socket
import threading
import time

from aiohttp import web

HOST = "127.0.0.1"


class Loopback:
    """An event loop in a background thread that hosts fixture servers."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fetch-fixtures", daemon=True)
        self.thread.start()
        self._cleanups: list = []

    def call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def site(self, routes: dict, ssl_context=None) -> "Site":
        site = Site(routes, ssl_context)
        self.call(site.start())
        self._cleanups.append(site.stop)
        return site

    def raw(self, handler) -> "RawServer":
        server = RawServer(handler)
        self.call(server.start())
        self._cleanups.append(server.stop)
        return server

    def stop_all(self) -> None:
        while self._cleanups:
            try:
                self.call(self._cleanups.pop()(), timeout=5)
            except Exception:  # a fixture that will not stop must not hide the test's own result
                pass

    def close(self) -> None:
        self.stop_all()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class Site:
    """An aiohttp app that routes on ``"host/path"`` or ``"/path"`` and logs every request.

    A route is ``(status, headers, body)`` or a callable ``(request) -> web.StreamResponse``
    (sync or async). ``log`` holds one dict per request with host, path, headers and
    monotonic start/end times; ``max_active`` is the most requests handled at once, overall
    and per host (``max_active_by_host``).
    """

    def __init__(self, routes: dict, ssl_context=None):
        self.routes = routes
        self.ssl_context = ssl_context
        self.log: list[dict] = []
        self.active: dict[str, int] = {}
        self.max_active = 0
        self.max_active_by_host: dict[str, int] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        tcp = web.TCPSite(self._runner, HOST, 0, ssl_context=self.ssl_context)
        await tcp.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = request.host.rsplit(":", 1)[0] if not request.host.startswith("[") else request.host
        entry = {"host": host, "path": request.path_qs, "headers": dict(request.headers),
                 "start": time.monotonic(), "end": None}
        self.log.append(entry)
        self.active[host] = self.active.get(host, 0) + 1
        self.max_active = max(self.max_active, sum(self.active.values()))
        self.max_active_by_host[host] = max(self.max_active_by_host.get(host, 0), self.active[host])
        try:
            route = self.routes.get(f"{host}{request.path}", self.routes.get(request.path))
            if route is None:
                return web.Response(status=404, text="no such fixture route")
            if callable(route):
                result = route(request)
                return await result if inspect.isawaitable(result) else result
            status, headers, body = route
            return web.Response(status=status, headers=headers, body=body.encode() if isinstance(body, str) else body)
        finally:
            self.active[host] -= 1
            entry["end"] = time.monotonic()

    def hits(self, path: str | None = None, host: str | None = None) -> int:
        return sum(1 for e in self.log if (path is None or e["path"] == path) and (host is None or e["host"] == host))


class RawServer:
    """A plain TCP server for behaviour no HTTP framework will produce (never answering,
    dribbling bytes, oversized headers, lying Content-Length). ``hits`` counts connections."""

    def __init__(self, handler):
        self.handler = handler
        self.hits = 0
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for w in list(self._writers):
            w.close()
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        self._writers.add(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)


async def wait_closed(reader: asyncio.StreamReader, limit: float = 5.0) -> None:
    """Wait until the client hangs up (bounded), so the server never outlives the test."""
    try:
        await asyncio.wait_for(reader.read(), limit)
    except (asyncio.TimeoutError, ConnectionError):
        pass


def _forkserver_address():
    """The address multiprocessing's fork server listens on in this process, once it is started."""
    from multiprocessing import forkserver

    return getattr(getattr(forkserver, "_forkserver", None), "_forkserver_address", None)


class ConnectSpy:
    """Records every ``socket.connect`` and refuses any address but 127.0.0.1.

    Refusing (rather than only recording) guarantees that even a buggy fetcher cannot send a
    packet to another address while the tests run; ``foreign`` lists such attempts and the
    autouse fixture fails the test if it is not empty. Name lookups are limited the same way:
    only numeric hosts reach the real getaddrinfo, so no DNS query ever leaves the machine.

    The one other connect allowed is the crawl's to its parser processes' fork server (a Unix socket
    on this machine that multiprocessing made, crawl/parsers.py), counted apart in ``forkserver``.
    """

    def __init__(self):
        self.calls: list[tuple] = []
        self.foreign: list[tuple] = []
        self.lookups: list[str] = []
        self.forkserver: list[str] = []

    def install(self, monkeypatch) -> "ConnectSpy":
        real_connect = socket.socket.connect
        real_getaddrinfo = socket.getaddrinfo

        def connect(sock, address):
            if sock.family == socket.AF_UNIX and address == _forkserver_address():
                self.forkserver.append(address)
                return real_connect(sock, address)
            self.calls.append(address)
            if not isinstance(address, tuple) or address[0] != HOST:
                self.foreign.append(address)
                raise ConnectionRefusedError(errno.ECONNREFUSED, f"connect spy refused {address!r}")
            return real_connect(sock, address)

        def getaddrinfo(host, *args, **kw):
            name = host.decode() if isinstance(host, bytes) else host
            self.lookups.append(name)
            # "localhost" comes from /etc/hosts ("hosts: files dns"), so it never reaches DNS either.
            if name is not None and name != "localhost" and not _numeric(name):
                raise socket.gaierror(socket.EAI_NONAME, f"tests never use real DNS ({name!r})")
            return real_getaddrinfo(host, *args, **kw)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self

    def to_port(self, port: int) -> int:
        return sum(1 for a in self.calls if isinstance(a, tuple) and a[1] == port)


def _numeric(name: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name.split("%", 1)[0])
            return True
        except OSError:
            pass
    try:
        socket.inet_aton(name)  # accepts 0x7f.1, 127.1, 2130706433: still no DNS involved
        return True
    except OSError:
        return False


def client_sockets(port: int) -> int:
    """This process's TCP sockets connected to ``port`` on loopback: the fetcher's end only.

    Linux only (/proc). The fixture servers run in this process too; their ends have ``port``
    as the local port, so matching the remote port counts only the client's sockets.
    """
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed since listdir
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[9] in ours:
                count += 1
    return count

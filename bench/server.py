"""One static server for the whole federation, choosing the site by the Host header.

``start_server(root, port)`` runs nginx when it is installed (fast: ~0.25 of a core
at 8k requests/s on this kind of machine, see shared/research/perf-detail.md §5)
and otherwise falls back to ``python -m bench.server``, a small asyncio HTTP/1.1
server (enough for the quick mode; it is CPU-bound at a few thousand requests/s,
so full runs should use nginx: results.md names the server used).

Both serve ``root/<host>/index.jsonld`` for ``/`` and ``root/<host>/<path>``
otherwise, as ``application/ld+json`` with a strong ETag, answer
``If-None-Match`` with 304, keep connections alive, and answer 404 for
everything else (robots.txt included). Both count responses by status code so
the benchmark can read the 304 share from the server's side.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

STATS_HOST = "stats.bench.invalid"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a process and its reaped children, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / tick   # utime stime cutime cstime


# --------------------------------------------------------------------------- nginx

NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
{user}
pid {work}/nginx.pid;
error_log {work}/error.log error;
events {{ worker_connections 30000; multi_accept on; }}
http {{
    types {{ application/ld+json jsonld; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    open_file_cache max=2000 inactive=60s;
    open_file_cache_valid 120s;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    server_tokens off;
    client_body_temp_path {work}/tmp;
    log_format bench '$status';
    access_log {work}/access.log bench buffer=256k flush=1s;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        server_name _;
        root {root}/$host;
        location = / {{ try_files /index.jsonld =404; }}
        location / {{ }}
    }}
}}
"""


class Server:
    kind = "?"

    def __init__(self, proc: subprocess.Popen, port: int):
        self.proc, self.port = proc, port

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def status_counts(self) -> Counter:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class NginxServer(Server):
    kind = "nginx"

    def __init__(self, proc, port, work: Path, version: str):
        super().__init__(proc, port)
        self.work = work
        self.version = version

    def status_counts(self) -> Counter:
        time.sleep(1.2)  # access_log flush=1s
        with open(self.work / "access.log", "rb") as fh:
            return Counter(line.strip().decode() for line in fh if line.strip())


class PythonServer(Server):
    kind = "python-asyncio"
    version = ""

    def status_counts(self) -> Counter:
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/", headers={"Host": STATS_HOST})
        data = json.loads(conn.getresponse().read())
        conn.close()
        return Counter(data)


def nginx_binary() -> str | None:
    for cand in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def start_server(root, work, *, port: int | None = None, prefer: str = "auto") -> Server:
    """Serve ``root`` on 127.0.0.1; ``prefer`` is "auto", "nginx" or "python"."""
    root, work = Path(root).resolve(), Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    binary = nginx_binary() if prefer in ("auto", "nginx") else None
    if prefer == "nginx" and binary is None:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx-light (or use --server python)")
    if binary:
        (work / "tmp").mkdir(exist_ok=True)
        (work / "access.log").write_bytes(b"")
        conf = work / "nginx.conf"
        user = "user root root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(work=work, root=root, port=port, user=user))
        version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
        proc = subprocess.Popen([binary, "-p", str(work), "-c", str(conf)], preexec_fn=_raise_nofile,
                                stdout=subprocess.DEVNULL, stderr=open(work / "stderr.log", "wb"))
        server = NginxServer(proc, port, work, version.split("/")[-1])
    else:
        proc = subprocess.Popen([sys.executable, "-m", "bench.server", "--root", str(root), "--port", str(port)],
                                preexec_fn=_raise_nofile, stdout=subprocess.PIPE, stderr=open(work / "stderr.log", "wb"),
                                cwd=str(Path(__file__).resolve().parent.parent))
        line = proc.stdout.readline()
        if not line.startswith(b"ready"):
            proc.kill()
            raise RuntimeError(f"python static server failed to start: {(work / 'stderr.log').read_text()[-2000:]}")
        server = PythonServer(proc, port)
    _wait_listening(port, server)
    return server


def _raise_nofile() -> None:
    """In the server's process: room for one keep-alive connection per host of a big federation."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 200_000 if os.geteuid() == 0 else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _wait_listening(port: int, server: Server, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.kind} exited with {server.proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{server.kind} did not start listening on {port}")


# --------------------------------------------------------------------------- python fallback

def load_sites(root: Path) -> dict:
    """{(host bytes, path bytes): (body, etag bytes)} for every file under root/<host>/."""
    sites = {}
    for host_dir in root.iterdir():
        if not host_dir.is_dir():
            continue
        host = host_dir.name.lower().encode()
        for dirpath, _, files in os.walk(host_dir):
            for name in files:
                full = Path(dirpath) / name
                rel = "/" + full.relative_to(host_dir).as_posix()
                body = full.read_bytes()
                etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
                sites[(host, rel.encode())] = (body, etag)
                if rel == "/index.jsonld":
                    sites[(host, b"/")] = (body, etag)
    return sites


class _Http(asyncio.Protocol):
    sites: dict = {}
    counts: Counter = Counter()

    def connection_made(self, transport):
        self.t = transport
        self.buf = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > 65536:
                    self.t.close()
                return
            head, self.buf = self.buf[:end], self.buf[end + 4:]
            if not self._handle(head):
                self.t.close()
                return

    def _handle(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        try:
            method, target, version = lines[0].split(b" ", 2)
        except ValueError:
            self._send(400, b"", b"text/plain", None, False)
            return False
        host = inm = None
        keep = version == b"HTTP/1.1"
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"host":
                host = v.strip().rsplit(b":", 1)[0].lower() if not v.strip().startswith(b"[") else v.strip()
            elif k == b"if-none-match":
                inm = v.strip()
            elif k == b"connection":
                keep = v.strip().lower() != b"close"
        path = target.split(b"?", 1)[0]
        if host == STATS_HOST.encode():
            self._send(200, json.dumps(self.counts).encode(), b"application/json", None, keep)
            return keep
        entry = self.sites.get((host, path))
        if entry is None or method not in (b"GET", b"HEAD"):
            self._send(404, b"not found", b"text/plain", None, keep)
            return keep
        body, etag = entry
        if inm is not None and etag in [x.strip() for x in inm.split(b",")]:
            self._send(304, b"", None, etag, keep)
        else:
            self._send(200, body if method == b"GET" else b"", b"application/ld+json", etag, keep, len(body))
        return keep

    def _send(self, status, body, ctype, etag, keep, length=None):
        reason = {200: b"OK", 304: b"Not Modified", 400: b"Bad Request", 404: b"Not Found"}[status]
        head = [b"HTTP/1.1 %d %s" % (status, reason)]
        if ctype:
            head.append(b"Content-Type: " + ctype)
        if etag:
            head.append(b"ETag: " + etag)
        if status != 304:
            head.append(b"Content-Length: %d" % (len(body) if length is None else length))
        if not keep:
            head.append(b"Connection: close")
        self.t.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.counts[str(status)] += 1


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    _Http.sites = load_sites(Path(args.root))

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, "127.0.0.1", args.port, backlog=4096, reuse_address=True)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        sys.stdout.buffer.write(b"ready %d\n" % len(_Http.sites))
        sys.stdout.flush()
        async with server:
            await stop.wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

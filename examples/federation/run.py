#!/usr/bin/env python3
"""Start the example federation and an aggregator on this computer: what ``make demo`` runs.

    .venv/bin/python examples/federation/run.py            # then open http://127.0.0.1:8080/
    .venv/bin/python examples/federation/run.py --help     # other ports, keep the working files

What it does, in order (every step a real hubnet command, nothing faked):

1. reads ``federation.toml``: 19 fictional groups in Leybridge and Marsh End;
2. checks every port it needs is free (and says which is not);
3. copies each profile into a fresh temporary folder, rewriting the ports in
   its addresses if other ports were asked for;
4. builds the static sites with ``hubnet-node export`` and copies the
   ordinary website pages, then serves them all with ``python -m hubnet.testing``
   (one port, sites chosen by the Host header);
5. starts one ``hubnet-node serve`` per self-hosted group, each with its own
   config and state folder, told to ping the aggregator when its profile is saved;
6. starts a hub's hosting site (``hubnet-node serve --site``) with the groups of
   ``hub-groups.csv`` imported by ``hubnet-node site import``; each group's invite
   is accepted (as the group would, through its invite page) so they are published;
7. crawls the network with ``hubnet-crawler crawl`` from two seeds (the umbrella
   network, and the one group nobody links to) plus the hub's published groups
   (from its index): everything else is found by following links;
8. starts the aggregator, ``hubnet-crawler serve``, and prints what to open.

Ctrl-C (or SIGTERM) stops every process it started, each in its own process
group, and removes its temporary working folder; so does any error along the way.

Tests import this file and call ``start_federation(workdir, ...)`` with free ports.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MANIFEST = HERE / "federation.toml"
SEEDS = HERE / "seeds.txt"
HUB_CSV = HERE / "hub-groups.csv"   # the hub's spreadsheet of groups without a website (docs/hosting.md)
HUB_HOST = "hub.localhost"
# The demo's fictional areas (docs/areas.md): region -> boroughs -> wards, and simple boundaries.
AREA_ARGS = ["--areas", HERE / "areas.csv", "--boundaries", HERE / "areas.geojson"]
LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 60.0        # seconds for a server to answer after it starts
CRAWL_TIMEOUT = 120.0       # seconds for the first crawl
STOP_TIMEOUT = 5.0          # seconds between SIGTERM and SIGKILL
CRAWL_DELAY = 0.2           # seconds between two requests to one site (default 1 s; all sites are local here)
EDITOR_PASSWORD_WORDS = ("ferry", "marsh", "heron", "willow", "barge", "kettle", "lantern", "pond")
WORKDIR_MARKER = ".hubnet-demo"
WORKDIR_PARTS = ("sites", "nodes", "profiles", "logs", "store", "hub")
# Any address of an example site: http://<name>.localhost:<port>
_SITE_URL = re.compile(r"(http://[a-z0-9-]+\.localhost):(\d+)")


class DemoError(Exception):
    """Something the person running the demo can fix; the message says what."""


# ------------------------------------------------------------------ the manifest
@dataclass(frozen=True)
class Group:
    slug: str
    name: str
    way: str                    # node / static / site
    port: int
    iri: str
    profile: Path | None = None  # the committed profile (node and static)
    page: Path | None = None     # the committed web page (site)
    role: str | None = None      # umbrella / isolated
    broken: str | None = None    # the reason code the aggregator must give

    @property
    def host(self) -> str:
        return f"{self.slug}.localhost"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def healthy(self) -> bool:
        return self.broken is None


@dataclass(frozen=True)
class Manifest:
    groups: tuple
    aggregator_port: int
    static_port: int
    hub_port: int

    def by_way(self, way: str) -> list:
        return [g for g in self.groups if g.way == way]

    def group(self, slug: str) -> Group:
        for g in self.groups:
            if g.slug == slug:
                return g
        raise KeyError(slug)

    @property
    def healthy(self) -> list:
        return [g for g in self.groups if g.healthy]

    @property
    def broken(self) -> list:
        return [g for g in self.groups if not g.healthy]

    def role(self, role: str) -> Group:
        return next(g for g in self.groups if g.role == role)


def load_manifest(path: Path = MANIFEST) -> Manifest:
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    groups = []
    for g in raw["group"]:
        if g["way"] not in ("node", "static", "site"):
            raise DemoError(f"{path}: group {g['slug']}: way must be node, static or site, not {g['way']!r}")
        groups.append(Group(
            slug=g["slug"], name=g["name"], way=g["way"], port=int(g["port"]), iri=g["iri"],
            profile=(path.parent / g["profile"]) if g.get("profile") else None,
            page=(path.parent / g["page"]) if g.get("page") else None,
            role=g.get("role"), broken=g.get("broken")))
    return Manifest(tuple(groups), int(raw["aggregator"]["port"]), int(raw["static"]["port"]), int(raw["hub"]["port"]))


def port_map(manifest: Manifest, *, aggregator_port: int | None = None, static_port: int | None = None,
             node_ports: dict | None = None, hub_port: int | None = None) -> dict:
    """{port in the committed files: port to use}. Unchanged ports map to themselves."""
    ports = {manifest.aggregator_port: aggregator_port or manifest.aggregator_port,
             manifest.static_port: static_port or manifest.static_port,
             manifest.hub_port: hub_port or manifest.hub_port}
    for g in manifest.by_way("node"):
        ports[g.port] = (node_ports or {}).get(g.slug, g.port)
    if len(set(ports.values())) != len(ports):
        raise DemoError(f"two servers were given the same port: {sorted(ports.values())}")
    return ports


def rewrite(text: str, ports: dict) -> str:
    """Every http://<name>.localhost:<port> in ``text`` with its port mapped through ``ports``."""
    return _SITE_URL.sub(lambda m: f"{m.group(1)}:{ports.get(int(m.group(2)), int(m.group(2)))}", text)


def with_ports(manifest: Manifest, ports: dict) -> Manifest:
    groups = tuple(replace(g, port=ports.get(g.port, g.port), iri=rewrite(g.iri, ports)) for g in manifest.groups)
    return Manifest(groups, ports[manifest.aggregator_port], ports[manifest.static_port], ports[manifest.hub_port])


def read_seeds(path: Path = SEEDS) -> list:
    return [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip() and not s.startswith("#")]


# ------------------------------------------------------------------ processes
def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: if this script is killed outright (SIGKILL), its children get SIGTERM instead of lingering."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join("    " + l for l in text.splitlines()[-lines:])


def spawn(name: str, argv: list, log: Path, *, stdout: Path | None = None, cwd: Path | None = None) -> Child:
    """Start ``argv`` in its own process group (so stopping it stops anything it started), output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for var in ("HUBNET_STORE", "HUBNET_NODE_CONFIG"):
        env.pop(var, None)
    with contextlib.ExitStack() as files:
        err = files.enter_context(open(log, "ab"))
        out = files.enter_context(open(stdout, "ab")) if stdout else err
        popen = subprocess.Popen(
            [str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=env,
            start_new_session=True, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    return Child(name, popen, log)


def stop_children(children: list, timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every child's process group, wait, then SIGKILL whatever is left; reap them all."""
    for c in children:
        if c.alive():
            try:
                os.killpg(c.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    for c in children:
        try:
            c.popen.wait(max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for c in children:
        try:
            os.killpg(c.pid, signal.SIGKILL)  # the group too: nothing it started may outlive it
        except (ProcessLookupError, PermissionError):
            pass
        try:
            c.popen.wait(timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
            pass
    # Grandchildren (a server's worker processes) are reaped by init once their parent is gone;
    # wait for that, so "stopped" means no process of any group is left, not even a zombie.
    deadline = time.monotonic() + timeout
    while any(group_alive(c.pid) for c in children) and time.monotonic() < deadline:
        time.sleep(0.05)


def group_alive(pgid: int) -> bool:
    """Is any process (a zombie included) left in process group ``pgid``?"""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - the id was reused by someone else's process
        return True
    return True


@contextlib.contextmanager
def _signals_ignored():
    """Ignore SIGINT/SIGTERM for a moment (only the main thread may change signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def command(name: str) -> list:
    """The hubnet command beside this Python (the venv's), or ``python -m`` as a fallback."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", {"hubnet-node": "hubnet.node", "hubnet-crawler": "hubnet.crawler.cli"}[name]]


# ------------------------------------------------------------------ HTTP checks
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(port: int, path: str = "/", host: str | None = None, accept: str = "*/*",
             timeout: float = 5.0) -> tuple[int, bytes]:
    """GET http://127.0.0.1:port/path, sending ``Host: host`` (so one address can play many sites)."""
    headers = {"Accept": accept, "User-Agent": "hubnet-demo"}
    if host:
        headers["Host"] = f"{host}:{port}"
    req = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}", headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() if exc.fp else b""


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no conflict
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def wait_ready(child: Child, port: int, path: str, host: str | None = None, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not child.alive():
            raise DemoError(f"{child.name} stopped while starting (exit status {child.popen.returncode}). "
                            f"The end of its log ({child.log}):\n{child.tail()}")
        try:
            status, _ = http_get(port, path, host, timeout=2.0)
            if status < 500:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(0.1)
    raise DemoError(f"{child.name} did not answer on port {port} within {timeout:.0f} s ({last}). "
                    f"The end of its log ({child.log}):\n{child.tail()}")


# ------------------------------------------------------------------ the federation
@dataclass
class Federation:
    workdir: Path
    manifest: Manifest               # with the ports actually used
    ports: dict                      # {port in the committed files: port used}
    owns_workdir: bool = False
    quiet: bool = False
    children: list = field(default_factory=list)
    seeds: list = field(default_factory=list)
    resolves: list = field(default_factory=list)   # HOST:PORT:ADDR, for the crawler's --resolve
    crawl_summary: dict = field(default_factory=dict)
    routes: dict = field(default_factory=dict)     # route name -> a path that answered 200
    editor_password: str = ""
    hub_groups: list = field(default_factory=list)  # IRIs of the groups the hub hosts (published)
    timings: dict = field(default_factory=dict)
    geocoder: object = None          # the demo's own postcode lookup (geocoder.py), started by prepare()
    _stopped: bool = False

    # ---- what callers use
    @property
    def aggregator_url(self) -> str:
        return f"http://{LOOPBACK}:{self.manifest.aggregator_port}"

    @property
    def hub_url(self) -> str:
        return f"http://{HUB_HOST}:{self.manifest.hub_port}"

    @property
    def static_url(self) -> str:
        return f"http://{LOOPBACK}:{self.manifest.static_port}/"

    @property
    def store(self) -> Path:
        return self.workdir / "store"

    @property
    def resolve_args(self) -> list:
        return [a for r in self.resolves for a in ("--resolve", r)]

    @property
    def geocoder_args(self) -> list:
        """The aggregator asks the demo's own postcode lookup, never the public one: the demo runs offline."""
        return ["--geocoder", self.geocoder.url if self.geocoder else "off"]

    def start_geocoder(self) -> None:
        spec = importlib.util.spec_from_file_location("hubnet_demo_geocoder", HERE / "geocoder.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.geocoder = module.DemoGeocoder()

    @property
    def pids(self) -> list:
        return [c.pid for c in self.children]

    def get(self, path: str, accept: str = "application/json", timeout: float = 10.0) -> tuple[int, bytes]:
        """GET a path on the aggregator."""
        return http_get(self.manifest.aggregator_port, path, accept=accept, timeout=timeout)

    def get_json(self, path: str):
        status, body = self.get(path)
        if status != 200:
            raise DemoError(f"GET {path} answered HTTP {status}: {body[:300]!r}")
        return json.loads(body)

    def stop(self) -> None:
        """Stop every process this federation started, and remove its working folder if it made it."""
        if self._stopped:
            return
        self._stopped = True
        with _signals_ignored():  # a second Ctrl-C must not leave half the processes running
            stop_children(list(reversed(self.children)))
            if self.geocoder is not None:
                self.geocoder.close()
            if self.owns_workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def wait(self) -> Child:
        """Block until one of the servers exits (normally never: Ctrl-C ends the demo); return it."""
        while True:
            for c in self.children:
                if not c.alive():
                    return c
            time.sleep(0.5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- start-up steps
    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    def _step(self, name: str, t0: float) -> None:
        self.timings[name] = round(time.monotonic() - t0, 2)

    def check_ports(self) -> None:
        needs = {self.manifest.aggregator_port: "the aggregator, hubnet-crawler serve",
                 self.manifest.static_port: "the static web host",
                 self.manifest.hub_port: "the hub's hosting site, hubnet-node serve --site"}
        for g in self.manifest.by_way("node"):
            needs[g.port] = f"the node of {g.name}"
        busy = [f"port {p} (needed by {what})" for p, what in sorted(needs.items()) if not port_free(p)]
        if busy:
            one = len(busy) == 1
            raise DemoError(
                "cannot start the demo: " + ", ".join(busy) + (" is" if one else " are") + " already in use on "
                f"127.0.0.1. Stop whatever uses {'it' if one else 'them'} (another `make demo`?), "
                "or choose other ports:\n"
                '    make demo DEMO_ARGS="--aggregator-port 9080 --static-port 9200 --node-port-base 9101 --hub-port 9300"')

    def prepare(self) -> None:
        """Profiles and pages into the working folder, ports rewritten; node configs; the seeds file."""
        t0 = time.monotonic()
        marker = self.workdir / WORKDIR_MARKER
        if any(self.workdir.iterdir()) and not marker.exists():
            raise DemoError(f"{self.workdir} is not empty and not a folder a previous demo made: "
                            "give --workdir an empty or new folder")
        for d in WORKDIR_PARTS:  # a previous run's files: every run starts afresh
            shutil.rmtree(self.workdir / d, ignore_errors=True)
            (self.workdir / d).mkdir(parents=True)
        marker.write_text("Made by examples/federation/run.py; it may delete what is in here.\n", encoding="utf-8")
        for g in self.manifest.groups:
            if g.profile is not None:
                text = rewrite(g.profile.read_text(encoding="utf-8"), self.ports)
                (self.workdir / "profiles" / f"{g.slug}.jsonld").write_text(text, encoding="utf-8")
        self.editor_password = "-".join(secrets.choice(EDITOR_PASSWORD_WORDS) for _ in range(3)) + \
            f"-{secrets.randbelow(100):02d}"
        from hubnet.node import state  # the venv's hubnet: sets the editor password as `hubnet-node passwd` would
        for g in self.manifest.by_way("node"):
            d = self.workdir / "nodes" / g.slug
            (d / "state").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.workdir / "profiles" / f"{g.slug}.jsonld", d / "profile.jsonld")
            (d / "node.toml").write_text(
                "# Written by examples/federation/run.py for the demo.\n"
                'profile = "profile.jsonld"\n'
                'state_dir = "state"\n'
                f'aggregators = ["{self.aggregator_url}"]\n'
                "ping_timeout = 2\n", encoding="utf-8")
            state.set_password(d / "state", self.editor_password)
        self.seeds = [rewrite(s, self.ports) for s in read_seeds()]
        (self.workdir / "seeds.txt").write_text("\n".join(self.seeds) + "\n", encoding="utf-8")
        hosts = {(g.host, g.port) for g in self.manifest.groups}
        # Hosts named in profiles but served by nobody (the allotment society's old address)
        # still resolve to loopback: they answer 404 there, as a dead site would.
        for g in self.manifest.groups:
            for path in filter(None, (g.profile, g.page)):
                for m in _SITE_URL.finditer(rewrite(path.read_text(encoding="utf-8"), self.ports)):
                    hosts.add((m.group(1)[len("http://"):], int(m.group(2))))
        hosts.add((HUB_HOST, self.manifest.hub_port))
        self.resolves = [f"{h}:{p}:{LOOPBACK}" for h, p in sorted(hosts)]
        self.prepare_hub()
        self._step("prepare", t0)

    def _node_command(self, name: str, *args) -> str:
        """Run ``hubnet-node ARGS`` to its end (a real command, as a hub officer would type it); its output."""
        proc = subprocess.run(command("hubnet-node") + [str(a) for a in args], capture_output=True, text=True,
                              timeout=READY_TIMEOUT, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise DemoError(f"{name} failed (exit status {proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc.stdout

    def prepare_hub(self) -> None:
        """The hub's hosting site: ``site init``, then ``site import`` of hub-groups.csv (drafts with invites)."""
        hub = self.workdir / "hub" / "site"
        self._node_command("hubnet-node site init", "site", "init", hub, "--public-url", self.hub_url,
                           "--geocoder", "off", "--hub", self.aggregator_url)
        sheet = self.workdir / "hub" / "hub-groups.csv"
        sheet.write_text(rewrite(HUB_CSV.read_text(encoding="utf-8"), self.ports), encoding="utf-8")
        self._node_command("hubnet-node site import", "site", "import", sheet, "--site", hub,
                           "--out", self.workdir / "hub" / "invites.csv")

    def accept_hub_invites(self) -> None:
        """Each hosted group accepts its invite through the invite page (the demo plays the groups, with the
        editors' password), then the hub's published groups join the crawl's seeds."""
        import csv
        import http.cookiejar
        port = self.manifest.hub_port
        with open(self.workdir / "hub" / "invites.csv", newline="", encoding="utf-8") as fh:
            links = [row["invite"] for row in csv.DictReader(fh)]
        for link in links:
            url = link.replace(f"{HUB_HOST}:{port}", f"{LOOPBACK}:{port}")
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                 urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            headers = {"Host": f"{HUB_HOST}:{port}", "User-Agent": "hubnet-demo"}
            with opener.open(urllib.request.Request(url, headers=headers), timeout=10) as resp:
                token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode()).group(1)
            form = urllib.parse.urlencode({"csrf_token": token, "password": self.editor_password,
                                           "again": self.editor_password}).encode()
            with opener.open(urllib.request.Request(url, data=form, headers=headers), timeout=10) as resp:
                if resp.status != 200:
                    raise DemoError(f"accepting the hub's invite {link} answered HTTP {resp.status}")
        status, body = http_get(port, "/index.json", HUB_HOST)
        if status != 200:
            raise DemoError(f"the hub's index answered HTTP {status}")
        groups = json.loads(body)["groups"]
        self.hub_groups = [g["id"] for g in groups]
        self.seeds += [g["profile"] for g in groups]
        (self.workdir / "seeds.txt").write_text("\n".join(self.seeds) + "\n", encoding="utf-8")

    def build_static(self) -> None:
        """``hubnet-node export`` for each static group (in parallel), and the website pages, into sites/."""
        t0 = time.monotonic()
        jobs = []
        for g in self.manifest.by_way("static"):
            out = self.workdir / "sites" / g.host
            # The broken group's profile names its old site on purpose; export refuses to publish it at
            # the new one (id_mismatch), so its files are made for the old site and served from the new.
            where = [] if g.broken else ["--base-url", g.base_url]
            argv = command("hubnet-node") + ["export", "--profile", self.workdir / "profiles" / f"{g.slug}.jsonld",
                                             "--out", out, *where]
            jobs.append(spawn(f"hubnet-node export ({g.slug})", argv, self.workdir / "logs" / f"export-{g.slug}.log"))
        for g in self.manifest.by_way("site"):
            out = self.workdir / "sites" / g.host
            out.mkdir(parents=True, exist_ok=True)
            (out / "index.html").write_text(rewrite(g.page.read_text(encoding="utf-8"), self.ports), encoding="utf-8")
        try:
            for job in jobs:
                if job.popen.wait(READY_TIMEOUT) != 0:
                    raise DemoError(f"{job.name} failed (exit status {job.popen.returncode}):\n{job.tail()}")
        finally:
            stop_children(jobs)
        self._step("export", t0)

    def start_servers(self) -> None:
        """The static host and every node, started together, then each waited for."""
        t0 = time.monotonic()
        logs = self.workdir / "logs"
        static = spawn("the static web host", [sys.executable, "-m", "hubnet.testing", "--root",
                                                self.workdir / "sites", "--port", self.manifest.static_port],
                       logs / "static-host.log")
        self.children.append(static)
        nodes = []
        for g in self.manifest.by_way("node"):
            d = self.workdir / "nodes" / g.slug
            argv = command("hubnet-node") + ["serve", "--config", d / "node.toml", "--host", LOOPBACK,
                                             "--port", g.port]
            child = spawn(f"the node of {g.name}", argv, logs / f"node-{g.slug}.log", cwd=d)
            self.children.append(child)
            nodes.append((g, child))
        hub = spawn("the hub's hosting site", command("hubnet-node") + [
            "serve", "--site", self.workdir / "hub" / "site", "--host", LOOPBACK, "--port", self.manifest.hub_port],
            logs / "hub-site.log")
        self.children.append(hub)
        some_static = self.manifest.by_way("static")[0]
        wait_ready(static, self.manifest.static_port, "/", some_static.host)
        wait_ready(hub, self.manifest.hub_port, "/.well-known/hubnet", HUB_HOST)
        for g, child in nodes:
            wait_ready(child, g.port, "/profile.jsonld", g.host)
        self._step("servers", t0)

    def crawl(self) -> None:
        t0 = time.monotonic()
        argv = command("hubnet-crawler") + [
            "crawl", "--seeds", self.workdir / "seeds.txt", "--store", self.store, "--allow-private",
            "--delay", CRAWL_DELAY, "--json", *self.resolve_args, *AREA_ARGS, *self.geocoder_args]
        out = self.workdir / "logs" / "crawl.json"
        child = spawn("the crawl (hubnet-crawler crawl)", argv, self.workdir / "logs" / "crawl.log", stdout=out)
        self.children.append(child)
        try:
            rc = child.popen.wait(CRAWL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise DemoError(f"the crawl took longer than {CRAWL_TIMEOUT:.0f} s; its log:\n{child.tail()}") from None
        if rc != 0:
            raise DemoError(f"the crawl failed (exit status {rc}):\n{child.tail()}")
        self.children.remove(child)
        try:
            self.crawl_summary = json.loads(out.read_text(encoding="utf-8"))
        except ValueError:
            self.crawl_summary = {}
        self._step("crawl", t0)

    def start_aggregator(self) -> None:
        t0 = time.monotonic()
        argv = command("hubnet-crawler") + [
            "serve", "--store", self.store, "--host", LOOPBACK, "--port", self.manifest.aggregator_port,
            "--allow-private", *self.resolve_args, *AREA_ARGS, *self.geocoder_args]
        child = spawn("the aggregator (hubnet-crawler serve)", argv, self.workdir / "logs" / "aggregator.log")
        self.children.append(child)
        wait_ready(child, self.manifest.aggregator_port, "/api/groups")
        self._step("aggregator", t0)

    # ---- what the aggregator offers (print only what answers)
    def group_keys(self) -> dict:
        """{group IRI: its key in the directory} (keys make short links; IRIs work too)."""
        try:
            data = self.get_json("/api/groups?limit=1000")
        except (DemoError, ValueError, OSError):
            return {}
        return {g["id"]: g["key"] for g in data.get("groups", []) if g.get("id") and g.get("key")}

    def probe_routes(self) -> None:
        """Which pages and API routes the aggregator answers with 200, so the banner shows only those.

        Brokering pages (/matches, /introductions, ...) and their JSON twins are
        tried page first; a route that answers 404 (not built) or fails is left out.
        """
        keys = self.group_keys()
        key = lambda g: keys.get(g.iri, g.iri)  # noqa: E731
        m = self.manifest
        food = keys.get(m.group("leybridge-foodbank").iri)
        pair = urllib.parse.urlencode({"from": key(m.group("wharfside-arts")),
                                       "to": key(m.group("marsh-end-community-transport"))})
        umbrella = urllib.parse.urlencode({"group": key(m.role("umbrella")), "depth": 2})
        candidates = {
            "directory": ["/"],
            "map": ["/map"],
            "areas": ["/areas"],
            "borough": ["/areas/E09900002", "/api/areas/E09900002"],
            "group": [f"/groups/{food}"] if food else [],
            "matches": ["/matches", "/api/matches"],
            "introductions": [f"/introductions?{pair}", f"/api/introductions?{pair}"],
            "contacts": ["/contacts?topic=food", "/api/contacts?topic=food"],
            "network": [f"/network?{umbrella}", f"/api/network?{umbrella}"],
            "isolated": ["/api/network/isolated"],
            "sources": ["/sources"],
            "sources.json": ["/sources.json"],
            "sparql": ["/sparql"],
            "groups.json": ["/api/groups?topic=food+poverty"],
        }
        for name, paths in candidates.items():
            for path in paths:
                try:
                    status, _ = self.get(path, accept="text/html,application/json;q=0.9")
                except OSError:
                    continue
                if status == 200:
                    self.routes[name] = path
                    break
        try:  # nodes ping POST /ping when a profile is saved: does this aggregator take pings?
            req = urllib.request.Request(self.aggregator_url + "/ping", data=b"url=", method="POST")
            with _OPENER.open(req, timeout=5):
                self.routes["ping"] = "/ping"
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 422):  # it is there, and refuses an empty ping
                self.routes["ping"] = "/ping"
        except OSError:
            pass

    # ---- the banner
    def banner(self, elapsed: float | None = None) -> str:
        m, agg = self.manifest, self.aggregator_url
        counts = self.crawl_summary.get("sources", {})
        ok = counts.get("new", 0) + counts.get("updated", 0) + counts.get("unchanged", 0)
        failed = self.crawl_summary.get("failed_by_reason", {})
        lines = [""]
        took = f" in {elapsed:.0f} s" if elapsed is not None else ""
        lines.append(f"hubnet demo ready{took}: {len(m.groups)} example groups in Leybridge and Marsh End, "
                     f"crawled from {len(self.seeds)} seeds ({ok} sources read"
                     + (", " + ", ".join(f"{n} refused: {code}" for code, n in failed.items()) if failed else "")
                     + ").")
        lines.append("")
        lines.append("Open in a browser:")
        labels = [("directory", "Directory", ""), ("map", "Map", ""),
                  ("areas", "Areas", "region, boroughs and wards, with counts"),
                  ("borough", "An area's page", "Marsh End: kinds, contacts, isolated, bridges"),
                  ("group", "A group's page", "Leybridge Food Bank"),
                  ("matches", "Needs and offers", "who can help whom"),
                  ("introductions", "Introductions", "Wharfside Arts to Community Transport"),
                  ("contacts", "Who to call", "about food"),
                  ("network", "Network", "around the umbrella"),
                  ("isolated", "Isolated groups", ""),
                  ("sources", "Source health", "one profile refused, and why"),
                  ("sparql", "SPARQL", "query everything")]
        for key, label, note in labels:
            if key in self.routes:
                lines.append(f"  {label:<18}{agg}{self.routes[key]}" + (f"   ({note})" if note else ""))
        lines.append("")
        lines.append("The groups' own sites (browsers resolve *.localhost to this computer):")
        nodes = m.by_way("node")
        lines.append(f"  {len(nodes)} self-hosted nodes, e.g. {nodes[1].base_url}  (ports "
                     f"{nodes[0].port}-{nodes[-1].port})")
        lines.append(f"    editor at /edit on each, password: {self.editor_password}")
        if "ping" in self.routes:
            lines.append("    saving a profile there pings the aggregator, which re-reads it at once")
        lines.append(f"  {len(self.hub_groups)} groups hosted by a hub (imported from hub-groups.csv): "
                     f"{self.hub_url}/   (each group's editor at /<group>/edit, same password)")
        n_static, n_sites = len(m.by_way("static")), len(m.by_way("site"))
        lines.append(f"  {n_static} static exports and {n_sites} ordinary websites on one host: {self.static_url}")
        lines.append("")
        lines.append("Try (from the repository's folder):")
        if "groups.json" in self.routes:
            lines.append(f"  curl -s '{agg}{self.routes['groups.json']}'")
        example = "examples/queries/hub-meeting-space-offers.rq"
        if "sparql" in self.routes and (ROOT / example).exists():
            lines.append(f"  curl -s {agg}/sparql -H 'Accept: text/csv' --data-urlencode query@{example}")
            query = ('SELECT ?kind (COUNT(?g) AS ?groups) WHERE { ?g <http://schema.org/additionalType> ?k '
                     'BIND(STRAFTER(STR(?k), "/kind/") AS ?kind) } GROUP BY ?kind ORDER BY DESC(?groups) ?kind')
            lines.append(f"  curl -s {agg}/sparql -H 'Accept: text/csv' --data-urlencode {shlex.quote('query=' + query)}")
        if "sources.json" in self.routes:
            lines.append(f"  curl -s {agg}/sources.json?status=failed")
        lines.append("")
        lines.append(f"Logs and data: {self.workdir}" + ("  (removed on exit)" if self.owns_workdir else ""))
        lines.append("Press Ctrl-C to stop everything.")
        return "\n".join(lines)


def start_federation(workdir: Path | str | None = None, *, aggregator_port: int | None = None,
                     static_port: int | None = None, node_ports: dict | None = None, hub_port: int | None = None,
                     quiet: bool = False, manifest_path: Path = MANIFEST) -> Federation:
    """Start everything and return the running federation; on any error, stop what was started and raise.

    ``workdir``: an empty or new folder for the run's files (default: a fresh
    temporary folder, removed by ``stop()``). Ports default to the manifest's;
    ``node_ports`` maps a node's slug to its port.
    """
    manifest = load_manifest(manifest_path)
    ports = port_map(manifest, aggregator_port=aggregator_port, static_port=static_port, node_ports=node_ports,
                     hub_port=hub_port)
    owns = workdir is None
    wd = Path(tempfile.mkdtemp(prefix="hubnet-demo-")) if owns else Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    fed = Federation(workdir=wd, manifest=with_ports(manifest, ports), ports=ports, owns_workdir=owns, quiet=quiet)
    t0 = time.monotonic()
    try:
        fed.check_ports()
        fed.prepare()
        fed.say(f"Building {len(manifest.by_way('static'))} static sites with hubnet-node export...")
        fed.build_static()
        fed.say(f"Starting {len(manifest.by_way('node'))} nodes and the static web host...")
        fed.start_servers()
        fed.accept_hub_invites()
        fed.start_geocoder()
        fed.say("Crawling from the umbrella network, one lone group and the hub's hosted groups...")
        fed.crawl()
        fed.say("Starting the aggregator...")
        fed.start_aggregator()
        fed.probe_routes()
    except BaseException:
        fed.stop()
        raise
    fed.timings["total"] = round(time.monotonic() - t0, 2)
    return fed


# ------------------------------------------------------------------ command line
def main(argv=None) -> int:
    manifest = load_manifest()
    ap = argparse.ArgumentParser(description="Run the hubnet example federation and an aggregator on 127.0.0.1.")
    ap.add_argument("--aggregator-port", type=int, default=manifest.aggregator_port,
                    help=f"port of the aggregator (default {manifest.aggregator_port})")
    ap.add_argument("--static-port", type=int, default=manifest.static_port,
                    help=f"port of the static web host (default {manifest.static_port})")
    first = min(g.port for g in manifest.by_way("node"))
    ap.add_argument("--node-port-base", type=int, default=first,
                    help=f"port of the first node; the others follow (default {first})")
    ap.add_argument("--hub-port", type=int, default=manifest.hub_port,
                    help=f"port of the hub's hosting site (default {manifest.hub_port})")
    ap.add_argument("--workdir", help="keep the run's files (store, logs, sites) in this folder instead of a "
                                      "temporary one that is removed on exit")
    args = ap.parse_args(argv)
    try:
        import hubnet.crawler.web  # noqa: F401  (the aggregator's server)
        import hubnet.node.app  # noqa: F401
    except ImportError as exc:
        print(f"hubnet is not installed for {sys.executable} ({exc}). Run the demo with `make demo`, "
              "which creates .venv and installs it, or with .venv/bin/python.", file=sys.stderr)
        return 2
    node_ports = {g.slug: args.node_port_base + (g.port - first) for g in manifest.by_way("node")}

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
    signal.signal(signal.SIGTERM, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)

    fed = None
    t0 = time.monotonic()
    try:
        fed = start_federation(args.workdir, aggregator_port=args.aggregator_port, static_port=args.static_port,
                               node_ports=node_ports, hub_port=args.hub_port)
        print(fed.banner(time.monotonic() - t0), flush=True)
        dead = fed.wait()
        print(f"\n{dead.name} stopped unexpectedly (exit status {dead.popen.returncode}); stopping the demo. "
              f"The end of its log ({dead.log}):\n{dead.tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping the demo...", flush=True)
        return 0
    except DemoError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        if fed is not None:
            fed.stop()
            print("Stopped every process the demo started.", flush=True)


if __name__ == "__main__":
    sys.exit(main())

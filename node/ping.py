"""Telling aggregators ("hubs") that the profile changed, so they re-read it soon.

A ping is ``POST <hub>/ping`` with the form field ``url=<profile URL>``. It never
holds up a save: it runs in a background thread. A ping that fails is tried
again with backoff (``ping_retry_first`` seconds, doubling up to
``ping_retry_max``) until the hub has been told, and what each hub was last
told is kept in the state folder (``pings.json``, written atomically), so a
restart neither forgets a change nobody heard about nor tells a hub twice.
The editor shows that record per hub: "told hub.example.org at 10:02" or
"could not reach it, trying again at 10:05".
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import requests

from hubnet import __version__

from .storage import atomic_write, ensure_private_dir

log = logging.getLogger(__name__)

USER_AGENT = f"hubnet-node/{__version__} (+https://w3id.org/hubnet)"
STATE_FILE = "pings.json"


@dataclass
class HubStatus:
    """What one hub has been told. ``next_try`` is set while a ping is owed to it."""

    hub: str
    url: str | None = None           # the profile URL last sent (or owed)
    told_at: float | None = None     # when the hub last accepted a ping
    attempts: int = 0                # failures since then
    next_try: float | None = None    # when the owed ping is (re)tried; None: nothing owed
    last_error: str | None = None

    @property
    def name(self) -> str:
        return urlsplit(self.hub).netloc or self.hub

    def words(self) -> str:
        """The hub's state for a volunteer, in the node's local time."""
        if self.next_try is not None and self.attempts:
            return (f"could not reach {self.name} ({self.last_error}); trying again at {_clock(self.next_try)}")
        if self.next_try is not None:
            return f"telling {self.name} now"
        if self.told_at is not None:
            return f"told {self.name} at {_clock(self.told_at)}"
        return f"{self.name} has not been told anything yet"


def _clock(ts: float) -> str:
    moment = datetime.fromtimestamp(ts).astimezone()
    today = datetime.now().astimezone().date()
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%d %b %H:%M")


class Pinger:
    def __init__(self, aggregators, timeout: float = 5.0, state_dir: Path | None = None,
                 retry_first: float = 60, retry_max: float = 3600, clock=time.time):
        self.aggregators = list(dict.fromkeys(aggregators or []))
        self.timeout = timeout
        self.retry_first, self.retry_max = retry_first, retry_max
        self.clock = clock
        self._file = Path(state_dir) / STATE_FILE if state_dir else None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._status = self._load()

    # ------------------------------------------------------------------ state
    def _load(self) -> dict:
        raw = {}
        if self._file is not None:
            try:
                raw = json.loads(self._file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                raw = {}
        out = {}
        for hub in self.aggregators:
            saved = raw.get(hub) if isinstance(raw, dict) else None
            try:
                out[hub] = HubStatus(**{**(saved if isinstance(saved, dict) else {}), "hub": hub})
            except TypeError:  # a file from another version: start afresh for that hub
                out[hub] = HubStatus(hub)
        return out

    def _save(self) -> None:
        if self._file is None:
            return
        data = {hub: asdict(s) for hub, s in self._status.items()}
        try:
            ensure_private_dir(self._file.parent)
            atomic_write(self._file, (json.dumps(data, indent=2) + "\n").encode("utf-8"), mode=0o600)
        except OSError as exc:  # the ping still happens; only the record is lost
            log.warning("could not record pings in %s: %s", self._file, exc)

    def status(self) -> list[HubStatus]:
        with self._lock:
            return [HubStatus(**asdict(s)) for s in self._status.values()]

    # ------------------------------------------------------------------ sending
    def _post(self, hub: str, profile_url: str) -> tuple[bool, str]:
        endpoint = hub.rstrip("/") + "/ping"
        try:
            resp = requests.post(endpoint, data={"url": profile_url}, timeout=self.timeout,
                                 headers={"User-Agent": USER_AGENT}, allow_redirects=False)
        except requests.RequestException as exc:
            log.warning("ping %s failed: %s", endpoint, exc)
            return False, f"could not connect ({type(exc).__name__})"
        if resp.status_code >= 400:
            log.warning("ping %s answered %s", endpoint, resp.status_code)
            return False, f"HTTP {resp.status_code}"
        log.info("told %s about %s (HTTP %s)", endpoint, profile_url, resp.status_code)
        return True, f"HTTP {resp.status_code}"

    def _record(self, hub: str, profile_url: str, ok: bool, detail: str) -> None:
        with self._lock:
            s = self._status.setdefault(hub, HubStatus(hub))
            if s.url != profile_url and s.next_try is not None and not ok:
                s.attempts = 0  # a different change: its backoff starts afresh
            s.url = profile_url
            now = self.clock()
            if ok:
                s.told_at, s.attempts, s.next_try, s.last_error = now, 0, None, None
            else:
                s.attempts += 1
                s.last_error = detail
                s.next_try = now + min(self.retry_first * 2 ** (s.attempts - 1), self.retry_max)
            self._save()

    def send(self, profile_url: str, hubs=None) -> list[tuple[str, bool, str]]:
        """Ping the hubs now (default: all); returns ``(hub, ok, detail)`` for each, and records it."""
        results = []
        for hub in (self.aggregators if hubs is None else hubs):
            ok, detail = self._post(hub, profile_url)
            self._record(hub, profile_url, ok, detail)
            results.append((hub, ok, detail))
        return results

    def ping(self, profile_url: str | None) -> threading.Thread | None:
        """Owe every hub a ping about ``profile_url`` and send it in the background (None: nothing to do)."""
        if not self.aggregators or not profile_url:
            return None
        with self._lock:
            for hub in self.aggregators:
                s = self._status.setdefault(hub, HubStatus(hub))
                if s.url != profile_url:
                    s.attempts = 0
                # Owed now, and sent by the thread below; the retry loop only steps in if that
                # thread never records an answer (the process stopped), so no hub is told twice.
                s.url, s.next_try = profile_url, self.clock() + self.retry_first
            self._save()
        return self._background(self._run, profile_url)

    def retry_due(self) -> list[tuple[str, bool, str]]:
        """Send every owed ping whose time has come (what the background loop runs)."""
        now = self.clock()
        with self._lock:
            due = [(s.hub, s.url) for s in self._status.values()
                   if s.next_try is not None and s.url and s.next_try <= now]
        results = []
        for hub, url in due:
            results += self.send(url, hubs=[hub])
        return results

    def start(self, tick: float = 5.0) -> threading.Thread | None:
        """Retry owed pings in the background until ``stop()`` (``hubnet-node serve`` starts it)."""
        if not self.aggregators:
            return None

        def loop():
            while not self._stop.wait(tick):
                try:
                    self.retry_due()
                except Exception:  # a bug here must not end the loop, nor reach a volunteer
                    log.exception("retrying pings failed")
        return self._background(loop, name="hubnet-ping-retry")

    def stop(self) -> None:
        self._stop.set()

    def _background(self, target, *args, name: str = "hubnet-ping") -> threading.Thread:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _run(self, profile_url: str) -> None:
        try:
            self.send(profile_url)
        except Exception:  # a bug here must not surface anywhere a volunteer is waiting
            log.exception("ping failed")

    def wait(self, timeout: float | None = None) -> None:
        """Wait for pings in flight (the CLI before exiting; tests before asserting)."""
        with self._lock:
            threads = [t for t in self._threads if t.name == "hubnet-ping" and t.is_alive()]
        for t in threads:
            t.join(timeout)


def pinger_for(cfg: dict, state_dir: Path) -> Pinger:
    """The node's pinger: node.toml's ``aggregators`` and the hubs ``init`` recorded, with the retry settings."""
    from .state import hubs
    return Pinger([*cfg["AGGREGATORS"], *hubs(state_dir)], timeout=cfg["PING_TIMEOUT"], state_dir=state_dir,
                  retry_first=cfg["PING_RETRY_FIRST"], retry_max=cfg["PING_RETRY_MAX"])

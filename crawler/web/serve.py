"""What ``hubnet-crawler serve`` runs: the app under waitress, stopped cleanly on Ctrl-C or SIGTERM.

Kept out of cli.py so the CLI stays quick to start for the commands that do
not serve (Flask, flask-limiter and waitress load only here).
"""

from __future__ import annotations

import logging
import re
import signal
import sys

import click

from hubnet.vocab.errors import HubnetError

from .. import logs
from ..control import Context, ControlServer
from hubnet.crawler.store.graph import now

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | None) -> float | None:
    """``30m`` -> 1800.0; ``off``/``0``/empty -> None. Raises ValueError with a usable message."""
    text = (text or "").strip().lower()
    if text in ("", "0", "off", "never", "none"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text)
    if not m:
        raise ValueError(f"{text!r} is not a duration: use a number with s, m, h or d, e.g. 30m, 6h, 1d (or off)")
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds < 60:
        raise ValueError("re-crawling more often than once a minute is not polite to the groups' websites")
    return seconds


def make_server(app, *, host: str, port: int, trusted_proxy: str | None = None, threads: int = 8):
    """The waitress server ``serve`` runs: bodies capped at the largest route's need, errors as JSON."""
    from waitress import create_server

    from . import largest_body

    options = {"host": host, "port": port, "threads": threads, "ident": "hubnet",
               "max_request_body_size": largest_body(app)}
    if trusted_proxy:
        # The proxy's X-Forwarded-* headers are believed only from its address, so the rate limits
        # see each client's own address. (Links are built from PUBLIC_URL, never from a Host.)
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
                       clear_untrusted_proxy_headers=True)
    server = create_server(app, **options)
    channel = _json_error_channel()
    for srv in [server, *getattr(server, "map", {}).values()]:
        if hasattr(srv, "channel_class"):
            srv.channel_class = channel
    return server


def _json_error_channel():
    """A waitress channel whose own errors (413 body too large, 400 bad framing) use the one JSON shape."""
    import json

    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    from .errors import _CODES

    class JsonErrorTask(ErrorTask):
        def execute(self):
            e = self.request.error
            err = HubnetError(f"{e.reason.lower()}: {e.body}", code=_CODES.get(e.code, "bad_request"), status=e.code)
            body = json.dumps(err.to_dict()).encode("utf-8")
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    return JsonErrorChannel


def run(config: dict, *, host: str, port: int, trusted_proxy: str | None = None, threads: int = 8) -> None:
    """Create the app and serve it until interrupted; always release the store on the way out."""
    from . import create_app
    from .current import EXTENSION
    from .sparql import EXTENSION as QUERIES

    try:
        app = create_app(config)
    except HubnetError as exc:
        raise click.ClickException(exc.message) from None
    hub = app.extensions[EXTENSION]
    try:
        server = make_server(app, host=host, port=port, trusted_proxy=trusted_proxy, threads=threads)
    except OSError as exc:
        hub.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                   "is another server using the port? Choose another with --port") from None

    def _terminate(signum, frame):  # SIGTERM (systemd, docker stop) stops like Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    handler = logs.configure()
    control = ControlServer(Context(hub.store, hub.index, changed=lambda: hub.after_crawl(now()),
                                    queries=app.extensions.get(QUERIES), settings=hub.settings), hub.store.path,
                            timeout=float(app.config["CONTROL_TIMEOUT"])).start()
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.effective_port}/"
    groups = hub.index.meta("groups", 0)
    state = hub.index.status()["state"]
    building = "; the text index is being built in the background (progress: /health)" \
        if state == "building" else ""
    logs.event("start", who="hubnet-crawler", what=str(hub.store.path), outcome="listening", url=url,
               groups=groups, index=state, recrawl_interval_s=hub.background.interval,
               msg=f"serving {groups} group{'' if groups == 1 else 's'} from {hub.store.path} at {url} "
                   f"(Ctrl-C to stop){building}")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        logs.event("stop", who="hubnet-crawler", what=str(hub.store.path), outcome="stopping",
                   msg="stopping: finishing the crawl in progress, if any")
        control.close()
        server.close()
        hub.close()
        logging.getLogger().removeHandler(handler)
        sys.stderr.flush()

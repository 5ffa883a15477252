"""What ``hubnet-crawler serve`` runs: the app under waitress, stopped cleanly on Ctrl-C or SIGTERM.

Kept out of cli.py so the CLI stays quick to start for the commands that do
not serve (Flask, flask-limiter and waitress load only here).
"""

from __future__ import annotations

import re
import signal
import sys

import click

from hubnet.vocab.errors import HubnetError

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


def run(config: dict, *, host: str, port: int, trusted_proxy: str | None = None, threads: int = 8) -> None:
    """Create the app and serve it until interrupted; always release the store on the way out."""
    from waitress import create_server

    from . import create_app

    try:
        app = create_app(config)
    except HubnetError as exc:
        raise click.ClickException(exc.message) from None
    hub = app.extensions["hubnet"]
    options = {"host": host, "port": port, "threads": threads, "ident": "hubnet"}
    if trusted_proxy:
        # The proxy's X-Forwarded-* headers are believed only from its address, so the rate limit
        # on /ping sees each client's own address, and links use the public scheme and host.
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
                       clear_untrusted_proxy_headers=True)
    try:
        server = create_server(app, **options)
    except OSError as exc:
        hub.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                                   "is another server using the port? Choose another with --port") from None

    def _terminate(signum, frame):  # SIGTERM (systemd, docker stop) stops like Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"hubnet-crawler: serving {hub.index.meta('groups', 0)} groups from {hub.store.path} "
               f"at http://{shown}:{server.effective_port}/ (Ctrl-C to stop)", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        click.echo("stopping: finishing the crawl in progress, if any", err=True)
        server.close()
        hub.close()
        sys.stderr.flush()

"""A hosting site (``hubnet-node site`` + ``serve --site``) on a loopback port, driven like a browser would."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from click.testing import CliRunner
from werkzeug.serving import make_server

from hubnet.node.cli import main
from hubnet.node.site.app import SiteApp

from node_helpers import csrf_from

INVITE = re.compile(r"(http://127\.0\.0\.1:\d+/invite/[A-Za-z0-9_-]+)")


def cli(*args):
    """``hubnet-node ARGS`` (click's runner; a traceback fails the test)."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, prog_name="hubnet-node")


def invite_links(output: str) -> list:
    return INVITE.findall(output)


class Clock:
    """The site's clock, moved by tests (invite expiry)."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


class HostedSite:
    """``site init`` at a free loopback port, served by SiteApp (what ``serve --site`` runs) in a thread."""

    def __init__(self, folder: Path, **init_options):
        self.folder = Path(folder)
        self.clock = Clock()
        self._app = None
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        args = ["site", "init", self.folder, "--public-url", self.base, "--geocoder", "off"]
        for key, value in init_options.items():
            args += [f"--{key.replace('_', '-')}", value]
        result = cli(*args)
        assert result.exit_code == 0, result.output
        self._app = SiteApp(self.folder, clock=self.clock, insecure_cookies=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _dispatch(self, environ, start_response):
        return self._app(environ, start_response)

    def site(self, *args):
        return cli("site", *args, "--site", self.folder)

    def add(self, name: str, **fields) -> str:
        """A draft with an invite; returns the invite link."""
        args = [name, "--invite"]
        for key, value in fields.items():
            args += [f"--{key}", value]
        result = self.site("add", *args)
        assert result.exit_code == 0, result.output
        return invite_links(result.output)[0]

    def accept(self, link: str, password: str, session: requests.Session | None = None) -> requests.Response:
        session = session or requests.Session()
        page = session.get(link, timeout=10)
        if page.status_code != 200:
            return page
        return session.post(link, data={"csrf_token": csrf_from(page.text), "password": password, "again": password},
                            timeout=10)

    def login(self, slug: str, password: str, session: requests.Session | None = None) -> requests.Session:
        session = session or requests.Session()
        page = session.get(f"{self.base}/{slug}/login", timeout=10)
        if page.status_code != 200:  # no editor there (unpublished, suspended, moved)
            session.last_login = page
            return session
        resp = session.post(f"{self.base}/{slug}/login", data={"csrf_token": csrf_from(page.text),
                                                               "password": password},
                            allow_redirects=False, timeout=10)
        session.last_login = resp
        return session

    def profile(self, slug: str) -> bytes:
        return (self.folder / "groups" / slug / "profile.jsonld").read_bytes()

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, allow_redirects=False, timeout=10, **kw)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

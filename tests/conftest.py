"""Fixtures for the whole suite. The helper modules beside this file (server_helpers, node_helpers,
fetch_fixtures, brokering_fixture, sparql_support) import by name because pytest's default (prepend)
import mode puts this conftest's folder on sys.path; fixtures live in conftest.py files, never in them."""

import asyncio
import os
from pathlib import Path

import pytest

import hubnet
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("__init__.py", "testing.py", "vocab", "node", "crawler", "examples/queries")  # pyproject.toml's map


def pytest_sessionstart(session):
    """The suite tests the INSTALLED package (``make test`` / ``make quick`` reinstall it when a source
    changes). Run directly after an edit, it would test the old code: stop and say so instead."""
    installed = Path(hubnet.__file__).resolve().parent
    if installed == ROOT:
        return  # an in-place (editable) install runs the sources themselves
    records = list(installed.parent.glob("hubnet-*.dist-info/RECORD"))
    if not records:
        return
    stamp = records[0].stat().st_mtime
    changed = [p for name in SOURCES for p in ([ROOT / name] if (ROOT / name).is_file() else
                                                 (ROOT / name).rglob("*"))
               if p.is_file() and "__pycache__" not in p.parts and p.stat().st_mtime > stamp]
    if changed:
        pytest.exit(f"the installed hubnet ({installed}) is older than {changed[0].relative_to(ROOT)} "
                    f"(and {len(changed) - 1} more): run `make quick` or `make test`, which reinstall it", 4)


# No test may reach the public postcode lookup (the aggregator's default geocoder): commands the
# tests start read HUBNET_GEOCODER (tests of geocoding name a fake one with --geocoder), and an
# in-process crawl built from plain Settings() is refused before any connection.
os.environ["HUBNET_GEOCODER"] = "off"


@pytest.fixture(autouse=True)
def _no_public_geocoder(monkeypatch):
    from hubnet.crawler.crawl import geocode

    real = geocode.lookup

    async def guarded(codes, settings):
        if "api.postcodes.io" in settings.geocoder:
            raise geocode.GeocoderDown("tests never reach the public geocoder")
        return await real(codes, settings)

    monkeypatch.setattr(geocode, "lookup", guarded)


@pytest.fixture
def fed():
    """A fake federation: many websites on one loopback server (hubnet.testing)."""
    f = Federation()
    yield f
    f.close()


@pytest.fixture(scope="session")
def virtuoso():
    """One throwaway Virtuoso for the whole session (tests/virtuoso_server.py), or a skip saying how to get one."""
    from virtuoso_server import start_or_skip

    server = start_or_skip()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "virtuoso"])
def store_backend(request, tmp_path, monkeypatch):
    """The ``--store`` value of an empty store on each backend: a directory, or the session's Virtuoso
    (emptied first). A remote store's own files (text index, areas) go in HUBNET_STORE_LOCAL_DIR."""
    if request.param == "embedded":
        return str(tmp_path / "store")
    server = request.getfixturevalue("virtuoso")
    server.reset()
    monkeypatch.setenv("HUBNET_STORE_LOCAL_DIR", str(tmp_path / "local"))
    return server.spec


@pytest.fixture
def backend_store(store_backend):
    """An open, empty store on each backend (``store_backend``)."""
    from hubnet.crawler.store.remote import open_store

    s = open_store(store_backend)
    yield s
    s.close()


@pytest.fixture
def store(tmp_path):
    """A real on-disk store in a temporary directory."""
    s = Store(tmp_path / "store")
    yield s
    s.close()


# Parallel runs. `make test` and `make quick` run pytest-xdist (`-n 4 --dist loadfile`; serial with
# PYTEST_ARGS="-n 0"). Each worker is its own process with its own tmp_path, so for a new test:
# - listen on port 0 (or tests/loop_helpers.free_ports) and read the port back, never a fixed port; a
#   server on several loopback addresses must retry on EADDRINUSE (another worker may hold that port there);
# - write only under tmp_path / tmp_path_factory, and set environment variables with monkeypatch;
# - count only this process's own threads, sockets and children, never the machine's;
# - collection must be the same in every worker: no parameters made of times, random or unsorted sets;
# - a browser test goes in a file of browser tests only (`pytestmark = pytest.mark.browser`).
# A test file's tests stay together on one worker, so module-scoped fixtures are built once.
def pytest_collection_modifyitems(items):
    """Real-browser tests run last (while a browser is open, Playwright's sync API keeps an event loop
    running in the main thread, where the crawler's ``asyncio.run`` cannot start: the browser closes with
    its module, which ``_no_event_loop_left_running`` checks, and the browser files stay last). Files with
    slow tests run first, so that in parallel the long ones do not start at the end.

    In parallel every worker sorts the same way, and the scheduler (``--no-loadscope-reorder``) hands out
    whole files in this order: the browser files last, so a worker that gets one gets nothing else after.
    (``--dist loadgroup`` would be the tool for this, but with pytest 9.2 it silently spreads every test.)"""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    browser_files = {item.path for item in items if item.get_closest_marker("browser") is not None}
    items.sort(key=lambda item: (item.path in browser_files, item.get_closest_marker("browser") is not None,
                                 item.path not in slow_files))   # stable: the order is otherwise kept


@pytest.fixture(scope="module", autouse=True)
def _no_event_loop_left_running():
    """A test file must not leave an event loop running in the main thread when it ends: every later
    file on the same worker would then fail in ``asyncio.run`` (the crawler's), whatever the order the
    files run in. (Playwright's sync API runs one while a browser is open: the browser is per module.)"""
    yield
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    pytest.fail(f"this file left an event loop running in the main thread ({loop!r}): close it in its fixture")


@pytest.fixture(autouse=True)   # a name of its own: under the same name it replaced the crawler's guard above
def _no_node_geocoder(monkeypatch):
    """Tests never reach the internet: the node's postcode lookup is off unless a test fakes one."""
    monkeypatch.setenv("HUBNET_NODE_GEOCODER", "off")


@pytest.fixture(params=[0, 1], ids=["parsed in-process", "parser process"])
def parse_workers(request, monkeypatch):
    """Run a test once with parsing on the crawl's pipeline thread and once in a parser process
    (Settings.parse_workers), whatever Settings the test builds: the refusals must be the same."""
    from hubnet.crawler.crawl.crawler import Crawler

    init = Crawler.__init__

    def with_parsers(self, store, settings=None, **kw):
        from hubnet.crawler.settings import Settings
        init(self, store, (settings or Settings()).replace(parse_workers=request.param), **kw)

    monkeypatch.setattr(Crawler, "__init__", with_parsers)
    return request.param

"""Fixtures for the whole suite. The helper modules beside this file (server_helpers, node_helpers,
fetch_fixtures, brokering_fixture, sparql_support) import by name because pytest's default (prepend)
import mode puts this conftest's folder on sys.path; fixtures live in conftest.py files, never in them."""

import pytest

from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation


@pytest.fixture
def fed():
    """A fake federation: many websites on one loopback server (tests/federation.py)."""
    f = Federation()
    yield f
    f.close()


@pytest.fixture
def store(tmp_path):
    """A real on-disk store in a temporary directory."""
    s = Store(tmp_path / "store")
    yield s
    s.close()

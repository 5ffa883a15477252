import os
import sys

import pytest

# Test helper modules (federation.py, ...) import as top-level modules.
sys.path.insert(0, os.path.dirname(__file__))

from crawler.store import Store  # noqa: E402
from federation import Federation  # noqa: E402


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


def pytest_collection_modifyitems(items):
    """Real-browser tests run last: while the session's browser is open, Playwright's sync API keeps an
    event loop running in the main thread, where the crawler's ``asyncio.run`` could not start."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)   # stable: order kept

"""Fixtures for the read side's tests: the brokering federation crawled into a real store."""

from __future__ import annotations

import pytest

from brokering_fixture import build, crawl_into
from hubnet.crawler.store.graph import Store
from hubnet.testing import Federation


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(store, {"U": iri, "A": iri, ...}): the federation above, crawled into a real on-disk store."""
    fed = Federation()
    iris = build(fed)
    store = Store(tmp_path_factory.mktemp("brokering") / "store")
    crawl_into(fed, store)
    yield store, iris
    store.close()
    fed.close()

"""Fixtures for the aggregator tests: the fixture network crawled into a store, with an app serving it."""

from __future__ import annotations

import pytest

from server_helpers import Network, open_network


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """One crawled network and app per test module, for tests that only read."""
    net = open_network(tmp_path_factory.mktemp("network"))
    yield net
    net.close()
    net.fed.close()


@pytest.fixture
def fresh_network(tmp_path):
    """A factory of networks of their own (``fresh_network(**config)``), for tests that ping,
    re-crawl or otherwise change the store."""
    made = []

    def make(**config) -> Network:
        net = open_network(tmp_path / f"n{len(made)}", **config)
        made.append(net)
        return net

    yield make
    for net in made:
        net.close()
        net.fed.close()

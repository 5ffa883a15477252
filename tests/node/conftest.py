"""Fixtures for the node's tests: an app over a temporary profile, its client, a logged-in editor."""

from __future__ import annotations

from pathlib import Path

import pytest

from click.testing import CliRunner

from hubnet.node.cli import main
from node_helpers import login, make_app


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def editor(app):
    """A test client logged in to the editor."""
    c = app.test_client()
    assert login(c).status_code == 302
    return c


@pytest.fixture
def profile_path(app) -> Path:
    return Path(app.config["PROFILE"])


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Run ``hubnet-node`` in an empty folder with no config from the environment; returns click's
    Result. ``geocoder=URL`` points the postcode lookup at a fake for that call (it is off otherwise).
    catch_exceptions=False: a traceback fails the test instead of hiding in the result."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUBNET_NODE_CONFIG", raising=False)

    def invoke(*args, input=None, geocoder=None):
        if geocoder:
            monkeypatch.setenv("HUBNET_NODE_GEOCODER", geocoder)
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False, prog_name="hubnet-node")
    return invoke

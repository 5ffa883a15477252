"""Fixtures for the node's tests: an app over a temporary profile, its client, a logged-in editor."""

from __future__ import annotations

from pathlib import Path

import pytest

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

"""The profile store (atomic saves, versions, undo, publish flag) and config layering."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubnet.node import state
from hubnet.node.app import create_app
from hubnet.node.config import ConfigError, resolve
from hubnet.node.storage import KEEP_VERSIONS, ProfileStore, atomic_write


def test_save_keeps_the_last_ten_versions_newest_first(tmp_path):
    store = ProfileStore(tmp_path / "profile.jsonld")
    for i in range(13):
        assert store.save(f"v{i}".encode())
    assert store.read_bytes() == b"v12"
    kept = store.versions()
    assert len(kept) == KEEP_VERSIONS == 10
    assert [p.read_bytes() for p in kept] == [f"v{i}".encode() for i in range(11, 1, -1)]
    assert oct(store.state_dir.stat().st_mode & 0o777) == "0o700"


def test_saving_the_same_bytes_is_a_no_op(tmp_path):
    store = ProfileStore(tmp_path / "profile.jsonld")
    store.save(b"one")
    assert store.save(b"one") is False
    assert store.versions() == []


def test_undo_walks_back_and_check_can_refuse(tmp_path):
    store = ProfileStore(tmp_path / "profile.jsonld")
    for data in (b"a", b"b", b"c"):
        store.save(data)

    def refuse(data):
        raise ValueError("no")
    with pytest.raises(ValueError):
        store.undo(check=refuse)
    assert store.read_bytes() == b"c" and len(store.versions()) == 2
    assert store.undo() == b"b" and store.read_bytes() == b"b"
    assert store.undo() == b"a"
    assert store.undo() is None and store.read_bytes() == b"a"


def test_atomic_write_leaves_no_temp_files_and_keeps_the_mode(tmp_path):
    target = tmp_path / "profile.jsonld"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in tmp_path.iterdir()] == ["profile.jsonld"]


def test_publish_flag(tmp_path):
    store = ProfileStore(tmp_path / "p.jsonld", tmp_path / "state")
    assert store.is_published()
    store.set_published(False)
    assert not store.is_published() and (tmp_path / "state" / "withdrawn").is_file()
    store.set_published(True)
    assert store.is_published()


def test_secret_key_is_generated_once_and_kept(tmp_path):
    (tmp_path / "profile.jsonld").write_text("{}")
    first = create_app({"PROFILE": str(tmp_path / "profile.jsonld")}).config["SECRET_KEY"]
    again = create_app({"PROFILE": str(tmp_path / "profile.jsonld")}).config["SECRET_KEY"]
    assert first == again and len(first) == 64
    key_file = tmp_path / ".hubnet-node" / "secret_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_short_passwords_are_refused(tmp_path):
    with pytest.raises(ValueError):
        state.set_password(tmp_path, "short")
    assert not state.has_password(tmp_path)


# ------------------------------------------------------------------ config layers
def test_config_layers_in_order(tmp_path, monkeypatch):
    toml = tmp_path / "conf" / "node.toml"
    toml.parent.mkdir()
    toml.write_text('profile = "ours.jsonld"\npublic_url = "https://from-toml.example/"\n'
                    'aggregators = ["https://hub.example"]\nsession_minutes = 20\n')
    monkeypatch.setenv("HUBNET_NODE_CONFIG", str(toml))
    cfg = resolve()
    assert cfg["PROFILE"] == str(tmp_path / "conf" / "ours.jsonld")  # relative to the TOML file
    assert cfg["STATE_DIR"] == str(tmp_path / "conf" / ".hubnet-node")
    assert cfg["PUBLIC_URL"] == "https://from-toml.example"
    assert cfg["AGGREGATORS"] == ["https://hub.example"] and cfg["SESSION_MINUTES"] == 20

    monkeypatch.setenv("HUBNET_NODE_PUBLIC_URL", "https://from-env.example")
    monkeypatch.setenv("HUBNET_NODE_AGGREGATORS", "https://a.example, https://b.example")
    monkeypatch.setenv("HUBNET_NODE_SESSION_MINUTES", "15")
    cfg = resolve()
    assert cfg["PUBLIC_URL"] == "https://from-env.example"
    assert cfg["AGGREGATORS"] == ["https://a.example", "https://b.example"]
    assert cfg["SESSION_MINUTES"] == 15

    cfg = resolve({"PUBLIC_URL": "https://from-dict.example", "PROFILE": str(tmp_path / "x.jsonld")})
    assert cfg["PUBLIC_URL"] == "https://from-dict.example"
    assert cfg["PROFILE"] == str(tmp_path / "x.jsonld")

    app = create_app({"PROFILE": str(tmp_path / "x.jsonld")})
    assert app.permanent_session_lifetime.total_seconds() == 15 * 60
    assert app.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("bad", [{"AGGREGATORS": ["javascript:x"]}, {"PUBLIC_URL": "ourgroup.org"},
                                 {"SESSION_MINUTES": "soon"}, {"CONFIG_FILE": "/nonexistent/node.toml"}])
def test_bad_config_is_explained(bad, monkeypatch):
    monkeypatch.delenv("HUBNET_NODE_CONFIG", raising=False)
    with pytest.raises(ConfigError):
        resolve(bad)


def test_config_file_must_be_toml(tmp_path):
    bad = tmp_path / "node.toml"
    bad.write_text("profile = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve({"CONFIG_FILE": str(bad)})
    assert Path(bad).exists()

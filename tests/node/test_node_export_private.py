"""``hubnet-node export --out`` never mixes the site with the node's private state.

Everything in the output folder is meant to be uploaded; the state folder
(.hubnet-node/ beside the profile, or the configured one) holds the editor's
password hash and the session-signing key. Through the CLI, as a volunteer
would type it: every way of pointing --out at, around or into that folder is
refused with exit 1 and nothing is written anywhere.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from hubnet.node import state
from hubnet.node.cli import main

from node_helpers import PASSWORD, write_profile

REFUSED_OUT = {
    "the profile's folder": ".",
    "the profile's folder, absolute": "{home}",
    "the profile's folder, trailing slash": "./",
    "the profile's folder, roundabout": "site/..",
    "the state folder": ".hubnet-node",
    "inside the state folder": ".hubnet-node/site",
    "deep inside the state folder": ".hubnet-node/versions/x",
    "a folder holding the profile's folder": "..",
    "a symlink to the profile's folder": "link",
}


def _tree(root) -> dict:
    """Every file under ``root`` with its bytes (symlinks not followed)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            out[os.path.relpath(path, root)] = b"<link>" if os.path.islink(path) else open(path, "rb").read()
    return out


@pytest.fixture
def node_home(tmp_path, monkeypatch):
    """A profile folder as a volunteer has it after ``passwd`` and ``serve``: profile + .hubnet-node/."""
    home = tmp_path / "group"
    home.mkdir()
    write_profile(home)
    state.set_password(home / ".hubnet-node", PASSWORD)
    state.secret_key(home / ".hubnet-node")
    (home / "link").symlink_to(home, target_is_directory=True)
    monkeypatch.chdir(home)
    for var in ("HUBNET_NODE_CONFIG", "HUBNET_NODE_STATE_DIR", "HUBNET_NODE_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return home


def _export(*args):
    return CliRunner().invoke(main, ["export", *args], catch_exceptions=False, prog_name="hubnet-node")


@pytest.mark.parametrize("out", REFUSED_OUT.values(), ids=REFUSED_OUT.keys())
def test_export_into_or_around_the_private_folder_is_refused_and_writes_nothing(node_home, out):
    before = _tree(node_home.parent)
    result = _export("--out", out.format(home=node_home))
    assert result.exit_code == 1, result.output
    assert "private folder" in result.output and "nothing was written" in result.output
    assert "password hash" in result.output and "Upload everything" not in result.output
    assert "Traceback" not in result.output
    assert _tree(node_home.parent) == before


def test_a_configured_state_folder_is_protected_too(node_home, monkeypatch, tmp_path):
    private = tmp_path / "var" / "hubnet-state"
    state.set_password(private, PASSWORD)
    monkeypatch.setenv("HUBNET_NODE_STATE_DIR", str(private))
    before = _tree(tmp_path)
    for out in (private, private / "site", private.parent):
        result = _export("--out", str(out))
        assert result.exit_code == 1 and "private folder" in result.output, (out, result.output)
    assert _tree(tmp_path) == before
    config = tmp_path / "node.toml"  # named in a config file: the same
    config.write_text(f'state_dir = "{private}"\n')
    monkeypatch.delenv("HUBNET_NODE_STATE_DIR")
    assert _export("--config", str(config), "--out", str(private / "site")).exit_code == 1
    assert not (private / "site").exists()


@pytest.mark.parametrize("out", ["site", "public/site", "../group-site"])
def test_a_folder_of_its_own_is_fine(node_home, out):
    """The control: the same command with a separate folder exports (so the refusals are about the folder)."""
    result = _export("--out", out)
    assert result.exit_code == 0, result.output
    assert (node_home / out / ".nojekyll").is_file() and (node_home / out / "profile.jsonld").is_file()
    assert "Upload everything" in result.output
    assert not (node_home / out / ".hubnet-node").exists()

"""Clean errors at the node's edges: a busy port, an unreadable profile, an unwritable folder.
Each gives a plain message naming the problem and a non-zero exit code, never a traceback."""

from __future__ import annotations

import socket

import pytest


from node_helpers import write_profile
from test_node_authority import serve_output



def _profile_is_a_folder(tmp_path):
    (tmp_path / "profile.jsonld").mkdir()


def _state_under_a_file(tmp_path):
    write_profile(tmp_path)
    (tmp_path / "blocker").write_text("a file, not a folder")
    (tmp_path / "node.toml").write_text('state_dir = "blocker/state"\n')


def _out_under_a_file(tmp_path):
    write_profile(tmp_path)
    (tmp_path / "blocker").write_text("a file, not a folder")


INIT = ("init", "--non-interactive", "--name", "X", "--url", "x.example", "--email", "a@x.example")

# (what is wrong, set-up, command, exit code, words the message must hold)
EDGES = [
    ("serve: the profile is a folder", _profile_is_a_folder, ("serve",), 2, "cannot read"),
    ("serve: unwritable state folder", _state_under_a_file, ("serve", "--config", "node.toml"), 2,
     "cannot write the node's private folder"),
    ("passwd: unwritable state folder", _state_under_a_file, ("passwd", "--config", "node.toml"), 2, "blocker"),
    ("unpublish: unwritable state folder", _state_under_a_file, ("unpublish", "--config", "node.toml"), 2,
     "blocker"),
    ("init: --out in a folder that cannot exist", _out_under_a_file, INIT + ("--out", "blocker/profile.jsonld"),
     2, "blocker"),
    ("export: --out under a file", _out_under_a_file, ("export", "--out", "blocker/site"), 2, "blocker"),
    ("export: the profile is a folder", _profile_is_a_folder, ("export",), 2, "cannot read"),
    ("init: a geocoder that is not a web address", lambda p: None, INIT + ("--geocoder", "postcodes.io"), 2,
     "geocoder: 'postcodes.io' must start with http:// or https://"),
]


@pytest.mark.parametrize("what, setup, args, code, says", EDGES, ids=[e[0] for e in EDGES])
def test_edges_give_a_plain_message(run, tmp_path, what, setup, args, code, says):
    setup(tmp_path)
    result = run(*args, input="long enough password\nlong enough password\n")
    assert result.exit_code == code, result.output
    assert says in result.output
    assert "Error: " in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_serve_on_a_busy_port(tmp_path):
    write_profile(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        output, code = serve_output(tmp_path, "--port", str(port), until=None)
    assert code == 2, output
    assert f"Error: cannot listen on 127.0.0.1:{port}: Address already in use" in output
    assert "Choose another with --port" in output and "Traceback" not in output

"""The README's laptop loop, run as written: a group's node and a hub on one computer.

The commands are read from README.md's "Try the whole loop on your laptop" block and run
in subprocesses through the installed console scripts; only the ports (5000, 8080) are
swapped for free loopback ports. The editor step is what a volunteer does in the browser:
log in, change the name, Save; the node's ping then brings the change to the hub.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import requests

from loop_helpers import free_ports, group_names, run, sources, start, stop, wait_for
from node_helpers import csrf_from, form_values

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PASSWORD = "a long enough editor password"


def loop_commands() -> list[str]:
    section = README.split("### Try the whole loop on your laptop", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_shows_the_whole_loop():
    programs = [shlex.split(c)[:2] for c in loop_commands()]
    assert programs == [["hubnet-node", "init"], ["hubnet-node", "passwd"], ["hubnet-node", "serve"],
                        ["hubnet-crawler", "crawl"], ["hubnet-crawler", "serve"]]


def test_the_readme_laptop_loop_runs_as_written(tmp_path):
    node_port, hub_port = free_ports(2)
    servers = []
    try:
        for command in loop_commands():
            argv = shlex.split(command.replace("5000", str(node_port)).replace("8080", str(hub_port)))
            if argv[1] == "serve":
                servers.append(start(argv, tmp_path, node_port if argv[0] == "hubnet-node" else hub_port))
            else:
                run(argv, tmp_path, f"{PASSWORD}\n{PASSWORD}\n" if argv[1] == "passwd" else "")

        hub, site = f"http://127.0.0.1:{hub_port}", f"http://127.0.0.1:{node_port}"
        assert group_names(hub) == ["Elm Road Residents"]

        # The volunteer edits in the browser: log in, rename, Save.
        node = requests.Session()
        token = csrf_from(node.get(f"{site}/login").text)
        assert node.post(f"{site}/login", data={"csrf_token": token, "password": PASSWORD}).ok
        values = form_values(node.get(f"{site}/edit").text)
        values["name"] = "Elm Road Residents' Association"
        assert node.post(f"{site}/edit", data=values).ok
        wait_for(lambda: group_names(hub) == ["Elm Road Residents' Association"], "the change on the hub")
        assert [s["url"] for s in sources(hub) if s["status"] == "ok"] == [f"{site}/"]   # one group, one source
    finally:
        stop(servers)

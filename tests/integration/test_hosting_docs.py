"""docs/hosting.md's commands work when pasted, in order, as a hub officer would run them.

Every ``hubnet-node`` line of its ``sh`` blocks is run (``serve`` is only checked to parse: the
served site is tested in tests/node/test_site_hosting.py). Between ``invite`` and ``suspend`` the
group accepts its invite, as it would before the hub could suspend or move it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from click.testing import CliRunner

from hubnet.node.cli import main
from hubnet.node.site.app import SiteApp

from node_helpers import csrf_from

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "hosting.md").read_text(encoding="utf-8")
LINES = [line.strip() for block in re.findall(r"```sh\n(.*?)```", DOC, re.S) for line in block.splitlines()
         if line.strip().startswith("hubnet-node ")]


def test_the_documented_commands_run_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUBNET_NODE_CONFIG", raising=False)
    (tmp_path / "examples" / "federation").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "federation" / "hub-groups.csv", tmp_path / "examples" / "federation")
    assert len(LINES) >= 10
    ran = []
    for line in LINES:
        args = shlex.split(line)[1:]
        if args[0] == "serve":
            assert main.get_command(None, "serve").make_context("serve", args[1:]).params["site_dir"] == "hub/"
            continue
        result = CliRunner().invoke(main, args, catch_exceptions=False, prog_name="hubnet-node")
        assert result.exit_code == 0, (line, result.output)  # the demo's sheet imports every row
        ran.append(args[1])
        if args[:2] == ["site", "invite"]:
            _accept(tmp_path / "hub", re.search(r"/invite/(\S+)", result.output).group(1))
    assert ran == ["init", "add", "invite", "import", "list", "suspend", "unsuspend", "export", "move"]
    assert (tmp_path / "marsh-gate-site" / "profile.jsonld").exists()
    assert '"moved"' in (tmp_path / "hub" / "site.json").read_text()


def _accept(site_dir: Path, token: str) -> None:
    client = SiteApp(site_dir, insecure_cookies=True).front.test_client()
    page = client.get(f"/invite/{token}")
    answer = client.post(f"/invite/{token}", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                                   "password": "a-long-password", "again": "a-long-password"})
    assert answer.status_code == 200

"""Every command the README shows works: its command and options exist, its files and routes are real.

The demo test (test_demo.py) runs `make demo`'s start-up and the aggregator's
API for real; here each README line is checked against the code it names, so
a renamed option or route fails the suite instead of a reader.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as crawler_main
from hubnet.node.cli import main as node_main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)
LINES = [line.split("  #")[0].strip() for block in BLOCKS for line in block.splitlines() if line.strip()]
PROGRAMS = {"hubnet-node": node_main, "hubnet-crawler": crawler_main}


def commands(program):
    return [line for line in LINES if line.startswith(program + " ")]


def test_the_readme_shows_both_commands():
    assert "make demo" in LINES and "make test" in LINES
    makefile = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "venv"):
        assert re.search(rf"^{target}:", makefile, re.M), target


@pytest.mark.parametrize("line", commands("hubnet-node") + commands("hubnet-crawler"))
def test_cli_lines_parse(line):
    argv = shlex.split(line)
    result = CliRunner().invoke(PROGRAMS[argv[0]], argv[1:] + ["--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("line", [l for l in LINES if l.startswith("curl ")])
def test_curl_lines_name_real_routes_and_files(line):
    from flask import Flask

    from hubnet.crawler.web import api, brokering, data, directory, sparql

    argv = shlex.split(line)
    url = next(a for a in argv if a.startswith("http://127.0.0.1:8080"))
    path = url[len("http://127.0.0.1:8080"):].split("?")[0] or "/"
    for arg in argv:
        if arg.startswith("query@"):
            assert (ROOT / arg[len("query@"):]).is_file(), arg
    probe = Flask(__name__)  # the app's routes, read from its blueprints without opening a store
    for bp in (api.bp, brokering.bp, data.bp, directory.bp, sparql.bp):
        probe.register_blueprint(bp)
    adapter = probe.url_map.bind("127.0.0.1")
    adapter.match(path, method="POST" if "--data-urlencode" in argv else "GET")


def test_files_the_readme_names_exist():
    for ref in re.findall(r"\]\(([^)#]+)\)", README):
        if not ref.startswith("http"):
            assert (ROOT / ref).exists(), ref
    for ref in re.findall(r"@(examples/queries/[\w.-]+\.rq)", README):
        assert (ROOT / ref).is_file(), ref

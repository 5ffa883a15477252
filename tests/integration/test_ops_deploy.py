"""The deployment files shipped in examples/deploy/ and docs/operating.md agree with the code:
the unit's command is a real `hubnet-crawler serve` whose options parse, both proxies forward to
the address serve listens on by default, and the public address is the one the proxies serve."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.web import DEFAULTS, largest_body
from hubnet.crawler.settings import RECRAWL_INTERVAL
from hubnet.crawler.web.serve import parse_duration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
GUIDE = (ROOT / "docs" / "operating.md").read_text(encoding="utf-8")
SERVE = cli.commands["serve"]


def _default(name):
    return next(p.default for p in SERVE.params if p.name == name)


def _unit() -> dict:
    service, section = {}, None
    for line in (DEPLOY / "hubnet-crawler.service").read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            service[key] = value
    return service


def _exec_start():
    argv = shlex.split(_unit()["ExecStart"])
    assert Path(argv[0]).name == "hubnet-crawler"
    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    assert re.search(r"^hubnet-crawler\s*=", scripts, re.M)   # a console script the install puts in .venv/bin
    assert argv[1] in cli.commands, argv[1]
    return argv


def test_the_unit_runs_serve_with_options_that_parse():
    argv = _exec_start()
    assert argv[1] == "serve"
    params = SERVE.make_context("serve", argv[2:]).params          # click's own parse, nothing started
    assert params["trusted_proxy"] == "127.0.0.1"
    assert urlsplit(params["public_url"]).scheme == "https"
    assert parse_duration(params["recrawl_interval"]) is not None
    assert (params["host"], params["port"]) == (_default("host"), _default("port"))
    assert CliRunner().invoke(cli, argv[1:] + ["--help"]).exit_code == 0


def _public_host():
    return urlsplit(SERVE.make_context("serve", _exec_start()[2:]).params["public_url"]).hostname


@pytest.mark.parametrize("name, upstream, site", [
    ("Caddyfile", r"reverse_proxy\s+(\S+)", r"^(\S+)\s*\{"),
    ("nginx.conf", r"proxy_pass\s+http://([^;/\s]+)", r"server_name\s+([^;\s]+);"),
])
def test_the_proxies_forward_to_serves_default_address(name, upstream, site):
    text = "\n".join(line for line in (DEPLOY / name).read_text().splitlines() if not line.lstrip().startswith("#"))
    assert re.findall(upstream, text, re.M) and set(re.findall(upstream, text, re.M)) == \
        {f"{_default('host')}:{_default('port')}"}
    assert set(re.findall(site, text, re.M)) == {_public_host()}


def test_nginx_allows_what_hubnet_allows_and_waits_for_a_query():
    text = (DEPLOY / "nginx.conf").read_text()
    size = re.search(r"client_max_body_size\s+(\d+)k;", text)
    assert int(size.group(1)) * 1024 >= largest_body(SimpleNamespace(config=DEFAULTS))
    wait = re.search(r"proxy_read_timeout\s+(\d+)s;", text)
    assert int(wait.group(1)) > DEFAULTS["QUERY_TIMEOUT"]
    assert "X-Forwarded-For $remote_addr" in text             # replaced, never appended


LINES = [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", GUIDE, re.S)
         for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("line", [l for l in LINES if l.startswith("hubnet-crawler ")])
def test_the_guides_commands_parse(line):
    argv = shlex.split(line)
    assert argv[1] in cli.commands, line
    assert CliRunner().invoke(cli, argv[1:] + ["--help"]).exit_code == 0, line


def test_the_guide_names_each_shipped_file():
    for f in DEPLOY.iterdir():
        assert f"examples/deploy/{f.name}" in GUIDE, f.name
    for ref in re.findall(r"\]\(([^)#]+)\)", GUIDE):
        if not ref.startswith("http"):
            assert (ROOT / "docs" / ref).resolve().exists(), ref


@pytest.mark.parametrize("text, seconds", [(None, RECRAWL_INTERVAL), ("6h", 6 * 3600), ("30m", 1800), ("off", None)])
def test_serve_recrawls_every_six_hours_unless_told_otherwise(text, seconds):
    args = [] if text is None else ["--recrawl-interval", text]
    given = SERVE.make_context("serve", args).params["recrawl_interval"]
    # Not given, the option leaves it to the server settings (a [server] table, HUBNET_RECRAWL_INTERVAL
    # or the default, 6 h).
    assert (DEFAULTS["RECRAWL_INTERVAL"] if given is None else parse_duration(given)) == seconds
    assert DEFAULTS["RECRAWL_INTERVAL"] == RECRAWL_INTERVAL == 6 * 3600   # create_app's default is the same

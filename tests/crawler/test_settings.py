"""The crawl settings load like the node's: defaults -> TOML file -> HUBNET_* environment -> command line."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.settings import ConfigError, Settings, load

# field -> (TOML text, environment string, value both mean)
BY_TYPE = {
    "max_sources": ("max_sources = 7", "7", 7),
    "per_host_delay": ("per_host_delay = 2.5", "2.5", 2.5),
    "obey_robots": ("obey_robots = false", "off", False),
    "allow_private": ("allow_private = true", "yes", True),
    "allowed_ports": ("allowed_ports = [80, 8443]", "80,8443", (80, 8443)),
    "allowed_private_addresses": ('allowed_private_addresses = ["10.0.0.0/8"]', "10.0.0.0/8", ("10.0.0.0/8",)),
    "user_agent": ('user_agent = "hub/1"', "hub/1", "hub/1"),
    "max_idle_connections": ("max_idle_connections = 9", "9", 9),
}


def test_defaults_are_the_dataclass():
    assert load(environ={}) == Settings()


@pytest.mark.parametrize("name", sorted(BY_TYPE))
def test_each_layer_overrides_the_one_before(tmp_path, name):
    toml, env, value = BY_TYPE[name]
    path = tmp_path / "crawl.toml"
    path.write_text(toml + "\n")
    assert getattr(load(config_file=path, environ={}), name) == value
    assert getattr(load(environ={"HUBNET_CONFIG": str(path)}), name) == value
    assert getattr(load(environ={f"HUBNET_{name.upper()}": env}), name) == value
    other = dataclasses.replace(Settings(), **{name: value})  # the environment beats the file ...
    assert getattr(load(config_file=path, environ={f"HUBNET_{name.upper()}": env}), name) == getattr(other, name)
    given = 11 if name == "max_idle_connections" else getattr(Settings(), name)  # ... and a given option beats
    assert getattr(load({name: given}, config_file=path, environ={f"HUBNET_{name.upper()}": env}), name) == given
    assert getattr(load({name: None}, config_file=path, environ={}), name) == value


@pytest.mark.parametrize("toml, env, named", [
    ("max_sourcez = 3", {}, "max_sourcez"),
    ("max_sources = 'many'", {}, "max_sources"),
    ("max_sources = true", {}, "max_sources"),
    ("obey_robots = 'perhaps'", {}, "obey_robots"),
    ("resolve = 1", {}, "resolve"),
    ("max_sources = [", {}, "not valid TOML"),
    ("", {"HUBNET_MAX_DEPTH": "deep"}, "HUBNET_MAX_DEPTH"),
    ("", {"HUBNET_OBEY_ROBOTS": "sometimes"}, "HUBNET_OBEY_ROBOTS"),
])
def test_a_bad_setting_is_named(tmp_path, toml, env, named):
    path = tmp_path / "crawl.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=named):
        load(config_file=path, environ=env)


def test_the_cli_reports_a_bad_config_without_a_traceback(tmp_path):
    path = tmp_path / "crawl.toml"
    path.write_text("max_sourcez = 3\n")
    for command in (["crawl", "--store", str(tmp_path / "s"), "example.org"], ["serve", "--store", str(tmp_path / "s")]):
        result = CliRunner().invoke(cli, [*command, "--config", str(path)])
        assert result.exit_code == 1 and "unknown setting(s) max_sourcez" in result.output, result.output
        assert "Traceback" not in result.output
    missing = CliRunner().invoke(cli, ["crawl", "--config", str(tmp_path / "nope.toml"), "example.org"])
    assert missing.exit_code == 1 and "does not exist" in missing.output


# --------------------------------------------------------------------------- the server's settings

from hubnet.crawler.settings import SERVER_DEFAULTS, server_config  # noqa: E402

# key -> (TOML text in [server], environment string, value both mean): one of each type.
SERVER_BY_TYPE = {
    "QUERY_TIMEOUT": ("query_timeout = 20.5", "20.5", 20.5),
    "PAGE_SIZE": ("page_size = 50", "50", 50),
    "CORS": ("cors = true", "yes", True),
    "PING_LIMIT": ('ping_limit = "3 per minute"', "3 per minute", "3 per minute"),
    "RECRAWL_INTERVAL": ("recrawl_interval = 3600", "3600", 3600),
    "TILE_URL": ('tile_url = "https://tiles.test/{z}/{x}/{y}.png"', "https://tiles.test/{z}/{x}/{y}.png",
                 "https://tiles.test/{z}/{x}/{y}.png"),
}


def test_server_defaults_are_the_web_apps():
    from hubnet.crawler.web import DEFAULTS

    assert DEFAULTS is SERVER_DEFAULTS and server_config(environ={}) == {}


@pytest.mark.parametrize("key", sorted(SERVER_BY_TYPE))
def test_each_server_layer_overrides_the_one_before(tmp_path, key):
    toml, env, value = SERVER_BY_TYPE[key]
    path = tmp_path / "hub.toml"
    path.write_text("max_sources = 7\n[server]\n" + toml + "\n")
    assert server_config(config_file=path, environ={}) == {key: value}
    assert load(config_file=path, environ={}).max_sources == 7      # the crawl part of the same file still loads
    assert server_config(environ={"HUBNET_CONFIG": str(path)}) == {key: value}
    assert server_config(environ={f"HUBNET_{key}": env}) == {key: value}
    given = SERVER_DEFAULTS[key] if SERVER_DEFAULTS[key] is not None else 60
    assert server_config({key: given}, config_file=path, environ={f"HUBNET_{key}": env}) == {key: given}
    assert server_config({key: None}, config_file=path, environ={}) == {key: value}


@pytest.mark.parametrize("toml, env, named", [
    ("[server]\npage_sise = 3", {}, "page_sise"),
    ("[server]\npage_size = 'many'", {}, "page_size"),
    ("[server]\ncors = 'perhaps'", {}, "cors"),
    ("[server]\nstore = 'elsewhere'", {}, "store"),          # the store is --store / HUBNET_STORE
    ("server = 3", {}, "server must be a table"),
    ("", {"HUBNET_QUERY_TIMEOUT": "soon"}, "HUBNET_QUERY_TIMEOUT"),
])
def test_a_bad_server_setting_is_named(tmp_path, toml, env, named):
    path = tmp_path / "hub.toml"
    path.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=named):
        server_config(config_file=path, environ=env)


def test_serve_options_show_the_server_defaults():
    out = CliRunner().invoke(cli, ["serve", "--help"], terminal_width=200).output
    for key in ("TILE_URL", "TILE_ATTRIBUTION", "QUERY_TIMEOUT"):
        assert str(SERVER_DEFAULTS[key]) in " ".join(out.split()), key


def test_the_store_comes_from_the_option_the_environment_or_the_config_file(tmp_path, monkeypatch):
    """--store, else HUBNET_STORE, else `store = "..."` in the config file (docs/scaling.md), else ./hubnet-store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUBNET_STORE", raising=False)
    monkeypatch.delenv("HUBNET_CONFIG", raising=False)
    config = tmp_path / "hub.toml"
    config.write_text(f'store = "{tmp_path / "from-config"}"\nmax_sources = 5\n')
    nq = tmp_path / "one.nt"
    nq.write_text('<http://a.example/#group> <http://schema.org/name> "A" .\n')

    def loaded_into(*args, env=None):
        result = CliRunner().invoke(cli, ["load", str(nq), "--graph", "http://a.example/", *args], env=env)
        assert result.exit_code == 0, result.output
        return sorted(p.name for p in tmp_path.iterdir() if p.is_dir())

    monkeypatch.setenv("HUBNET_CONFIG", str(config))   # `load` has no --config: the environment names the file
    assert loaded_into() == ["from-config"]
    assert loaded_into(env={"HUBNET_STORE": str(tmp_path / "from-env")}) == ["from-config", "from-env"]
    assert loaded_into("--store", str(tmp_path / "from-option")) == ["from-config", "from-env", "from-option"]
    config.write_text("store = 3\n")
    bad = CliRunner().invoke(cli, ["sources"])
    assert bad.exit_code != 0 and "store must be a directory" in bad.output and "Traceback" not in bad.output

"""The block list without a server: forget drops the source, the next CLI crawl does not fetch it
(as a seed, a link or a re-check), the store refuses a late write for it, unforget undoes it."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main as cli
from hubnet.crawler.store.graph import SourceRecord, Store
from hubnet.testing import Federation
from server_helpers import HOSTS, build_sites, crawled_store


@pytest.fixture
def world(tmp_path):
    fed = Federation()
    path = crawled_store(fed, tmp_path / "store")
    yield fed, path
    fed.close()


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def crawl(fed, path, *seeds):
    res = [a for h in HOSTS for a in ("--resolve", f"{h}:{fed.port}:127.0.0.1")]
    return run("crawl", "--store", path, "--allow-private", "--delay", "0", "--json", *res, *seeds)


@pytest.mark.parametrize("how", ["seed", "link", "recheck"])
def test_a_forgotten_source_is_not_fetched_again(world, how):
    fed, path = world
    victim = fed.url("beta.test")          # linked from alpha; a known source
    out = run("forget", victim, "--reason", "duplicate of another listing", "--store", path)
    assert out.exit_code == 0 and "removed 1 source" in out.output, out.output
    fed.clear_log()
    seeds = {"seed": [victim], "link": [fed.url("alpha.test")], "recheck": []}[how]
    result = crawl(fed, path, *seeds)
    assert result.exit_code == 0, result.output
    assert fed.requests_to("beta.test", "/") == []
    if how != "recheck":
        assert json.loads(result.output)["skipped_by_reason"].get("forgotten") == 1
    listing = json.loads(run("sources", "--store", path, "--json").output)
    assert victim not in {s["url"] for s in listing["sources"]}


def test_the_store_refuses_a_write_for_a_forgotten_source(world):
    fed, path = world
    victim = fed.url("beta.test")
    assert run("forget", victim, "--reason", "spam", "--store", path).exit_code == 0
    store = Store(path)
    try:
        for rec in (SourceRecord(url=victim, status="failed"),
                    SourceRecord(url=fed.url("alpha.test", "/x"), graph=victim, status="ok")):
            with pytest.raises(Exception) as err:
                store.update_record(rec)
            assert getattr(err.value, "code", None) == "forgotten"
        assert store.source(victim) is None
    finally:
        store.close()


def test_unforget_and_bad_input(world):
    fed, path = world
    victim = fed.url("beta.test")
    assert run("forget", victim, "--store", path).exit_code == 2                # --reason is required
    assert run("forget", "ftp://x/", "--reason", "r", "--store", path).exit_code == 1
    missing = run("unforget", victim, "--store", path)
    assert missing.exit_code == 1 and "not on the block list" in missing.output
    assert run("forget", victim, "--reason", "r", "--store", path).exit_code == 0
    assert run("unforget", victim, "--store", path).exit_code == 0
    fed.clear_log()
    assert crawl(fed, path, victim).exit_code == 0
    assert fed.requests_to("beta.test", "/")


def test_backup_refuses_an_existing_target_and_restores(world, tmp_path):
    fed, path = world
    (tmp_path / "there").mkdir()
    out = run("backup", tmp_path / "there", "--store", path)
    assert out.exit_code == 1 and "already exists" in out.output
    assert run("backup", tmp_path / "bk", "--store", path).exit_code == 0
    assert (run("sources", "--json", "--store", tmp_path / "bk").output
            == run("sources", "--json", "--store", path).output)
    groups = json.loads(run("groups", "--format", "json", "--store", tmp_path / "bk").output)
    assert groups["total"] == 6

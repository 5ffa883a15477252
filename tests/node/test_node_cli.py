"""``hubnet-node`` commands, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import responses

import hubnet
from hubnet import vocab
from hubnet.node import state
from hubnet.node.app import create_app
from hubnet.node.storage import ProfileStore

from node_helpers import EXAMPLE, example, modified, write_profile

COMMANDS = ("validate", "init", "serve", "passwd", "unpublish", "publish", "export")



def test_help_everywhere(run):
    top = run("--help")
    assert top.exit_code == 0
    for cmd in COMMANDS:
        assert cmd in top.output
    assert "Getting started" in top.output
    for cmd in COMMANDS:
        result = run(cmd, "--help")
        assert result.exit_code == 0, cmd
        assert "Example" in result.output, cmd
    assert "127.0.0.1 means only this computer" in " ".join(run("serve", "--help").output.split())
    assert run("validate", "--help").output.startswith("Usage: hubnet-node validate")
    assert run("--version").output.strip() == f"hubnet-node {hubnet.__version__}"


# ------------------------------------------------------------------ validate
def test_validate_valid(run):
    result = run("validate", str(EXAMPLE))
    assert result.exit_code == 0
    assert "valid: no problems found" in result.output


def test_validate_invalid_names_the_field(run, tmp_path):
    doc = example()
    doc["location"]["geo"]["latitude"] = 123
    del doc["name"]
    path = write_profile(tmp_path, doc)
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert "location.geo.latitude: 123 is not a latitude (must be between -90 and 90)" in result.output
    assert "name: missing" in result.output


def test_validate_warnings_only_is_still_valid(run, tmp_path):
    doc = example()
    del doc["description"]
    result = run("validate", str(write_profile(tmp_path, doc)))
    assert result.exit_code == 0 and "warning: description: missing" in result.output


@pytest.mark.parametrize("content, says", [
    (b'{"name": "x",', "cannot read bad.jsonld: the document is not valid JSON"),
    (b'{"@context": "http://127.0.0.1/x", "@type": "Organization", "name": "x"}', "http://127.0.0.1/x"),
    (b'[1, 2]', "cannot read bad.jsonld"),
])
def test_validate_unreadable_is_exit_2(run, tmp_path, content, says):
    (tmp_path / "bad.jsonld").write_bytes(content)
    result = run("validate", "bad.jsonld")
    assert result.exit_code == 2
    assert says in result.output


def test_validate_missing_file(run):
    result = run("validate", "nowhere.jsonld")
    assert result.exit_code == 2
    assert "cannot read nowhere.jsonld: there is no such file" in result.output


def test_validate_json_output(run, tmp_path):
    ok = json.loads(run("validate", str(EXAMPLE), "--json").output)
    assert ok["valid"] is True and ok["errors"] == []
    bad = run("validate", str(write_profile(tmp_path, modified(url="javascript:x"))), "--json")
    assert bad.exit_code == 1
    assert json.loads(bad.output)["errors"][0]["field"] == "url"
    (tmp_path / "ctx.jsonld").write_text('{"@context": "http://127.0.0.1/x"}')
    unreadable = run("validate", "ctx.jsonld", "--json")
    assert unreadable.exit_code == 2
    err = json.loads(unreadable.output)
    assert err["ok"] is False and err["error"]["code"] == "unsupported_context"


@responses.activate
def test_validate_url_of_an_html_page(run):
    block = json.dumps(modified(**{"@id": "https://ourgroup.example/#group"}))
    page = f'<!doctype html><title>Us</title><script type="application/ld+json">{block}</script>'
    responses.get("https://ourgroup.example/", body=page, content_type="text/html; charset=utf-8")
    result = run("validate", "https://ourgroup.example/")
    assert result.exit_code == 0, result.output
    sent = responses.calls[0].request.headers
    assert sent["Accept"] == "application/ld+json, text/html;q=0.5"


@responses.activate
def test_validate_url_failures_are_exit_2(run):
    responses.get("https://gone.example/", status=404)
    responses.get("https://down.example/", body=requests.ConnectionError("refused"))
    responses.get("https://huge.example/", body=b"x" * (300 * 1024), content_type="application/ld+json")
    for url, says in (("https://gone.example/", "404"), ("https://down.example/", "could not connect"),
                      ("https://huge.example/", "larger than 256 KiB"), ("ftp://x.example/", "only http")):
        result = run("validate", url)
        assert result.exit_code == 2, url
        assert f"cannot read {url}" in result.output and says in result.output


# ------------------------------------------------------------------ init
INIT_FLAGS = ("init", "--non-interactive", "--name", "Friends of Marsh Park", "--url", "friends-marsh.example",
              "--email", "hello@friends-marsh.example", "--postcode", "e10 5aa", "--locality", "Leyton",
              "--area", "Leyton ward", "--topic", "parks", "--topic", "litter picks",
              "--description", "We look after Marsh Park.", "--kind", "friends-group")


def test_init_non_interactive_writes_a_valid_profile(run, tmp_path):
    result = run(*INIT_FLAGS)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "profile.jsonld").read_text())
    assert doc["@context"] == vocab.CONTEXT_IRI
    assert doc["@id"] == "https://friends-marsh.example/#group"
    assert doc["url"] == "https://friends-marsh.example/"
    assert doc["additionalType"] == "friends-group"
    assert doc["knowsAbout"] == ["parks", "litter picks"]
    assert doc["location"]["address"]["postalCode"] == "E10 5AA"
    assert doc["contactPoint"] == {"@type": "ContactPoint", "contactType": "first point of contact",
                                   "email": "hello@friends-marsh.example"}
    assert doc["license"] == "https://creativecommons.org/publicdomain/zero/1.0/"
    report = vocab.validate(doc)
    assert report.conforms and not report.warnings


def test_init_refuses_to_overwrite_without_force(run, tmp_path):
    (tmp_path / "profile.jsonld").write_text("mine")
    result = run(*INIT_FLAGS)
    assert result.exit_code == 1 and "already exists" in result.output
    assert (tmp_path / "profile.jsonld").read_text() == "mine"
    assert run(*INIT_FLAGS, "--force").exit_code == 0
    assert vocab.validate(tmp_path / "profile.jsonld").conforms


def test_init_non_interactive_says_what_is_missing(run, tmp_path):
    result = run("init", "--non-interactive", "--name", "X")
    assert result.exit_code == 2
    assert "--url" in result.output and "--email" in result.output
    assert not (tmp_path / "profile.jsonld").exists()
    bad = run("init", "--non-interactive", "--name", "X", "--url", "x.example", "--email", "nope")
    assert bad.exit_code == 2 and "not an email address" in bad.output


def test_init_interactive(run, tmp_path):
    answers = "\n".join([
        "Leyton Tenants",             # name
        "Tenants helping tenants.",   # description
        "javascript:alert(1)",        # website: refused, asked again
        "leyton-tenants.example",     # website
        "not-an-email",               # email: refused, asked again
        "hi@leyton-tenants.example",  # email
        "2",                          # kind: the second in the list
        "E10 6BB", "Leyton", "Leyton ward",
        "repairs, rent",              # topics
        "",                           # umbrella network: none
        "",                           # hubs: none
    ]) + "\n"
    result = run("init", "--out", "ours.jsonld", input=answers)
    assert result.exit_code == 0, result.output
    assert "is not a web address" in result.output and "is not an email address" in result.output
    assert "Residents' association" in result.output  # the numbered list of kinds
    doc = json.loads((tmp_path / "ours.jsonld").read_text())
    assert doc["name"] == "Leyton Tenants"
    assert doc["additionalType"] == vocab.kinds()[1].slug
    assert doc["knowsAbout"] == ["repairs", "rent"]
    assert vocab.validate(doc).conforms


# ------------------------------------------------------------------ passwd
def test_passwd_stores_a_scrypt_hash(run, tmp_path):
    write_profile(tmp_path)
    result = run("passwd", input="too short\nlong enough password\nlong enough passwordX\n"
                                 "long enough password\nlong enough password\n")
    assert result.exit_code == 0, result.output
    assert "at least 12 characters" in result.output
    assert "do not match" in result.output
    stored = (tmp_path / ".hubnet-node" / "password").read_text()
    assert stored.startswith("scrypt:") and "long enough" not in stored
    assert state.check_password(tmp_path / ".hubnet-node", "long enough password")


# ------------------------------------------------------------------ unpublish / publish
@responses.activate
def test_unpublish_and_publish_flip_the_flag_and_ping(run, tmp_path):
    responses.post("https://hub.example.org/ping")
    profile = write_profile(tmp_path)
    (tmp_path / "node.toml").write_text('profile = "profile.jsonld"\naggregators = ["https://hub.example.org"]\n')
    client = create_app({"PROFILE": str(profile)}).test_client()

    result = run("unpublish", "--config", "node.toml")
    assert result.exit_code == 0, result.output
    assert "410 Gone" in result.output and "told https://hub.example.org: ok" in result.output
    assert not ProfileStore(profile).is_published()
    assert client.get("/profile.jsonld").status_code == 410
    assert responses.calls[0].request.body == "url=https%3A%2F%2Fmarshgate-ra.example.org%2Fprofile.jsonld"

    assert run("publish", "--profile", "profile.jsonld").exit_code == 0
    assert ProfileStore(profile).is_published()
    assert client.get("/profile.jsonld").status_code == 200


def test_unpublish_without_a_profile(run):
    result = run("unpublish")
    assert result.exit_code == 2 and "there is no profile" in result.output


# ------------------------------------------------------------------ export
def test_export_writes_the_four_files(run, tmp_path):
    write_profile(tmp_path)
    result = run("export", "--out", "site/")
    assert result.exit_code == 0, result.output
    assert "Wrote 5 files to site/:" in result.output
    site = tmp_path / "site"
    for name in ("index.html", "profile.jsonld", "profile.ttl", ".well-known/hubnet"):
        assert (site / name).is_file(), name
    assert (site / "profile.jsonld").read_bytes() == EXAMPLE.read_bytes()
    assert vocab.validate(site / "profile.jsonld").conforms
    assert vocab.validate(site / "index.html").conforms  # the page carries the profile too
    assert len(vocab.load(site / "profile.ttl")) == len(vocab.load(EXAMPLE))
    assert json.loads((site / ".well-known/hubnet").read_text()) == {
        "hubnet": "0.1", "profile": "https://marshgate-ra.example.org/profile.jsonld",
        "id": "https://marshgate-ra.example.org/#group", "name": "Marsh Gate Residents' Association"}
    html = (site / "index.html").read_text()
    assert '<link rel="alternate" type="application/ld+json" href="profile.jsonld">' in html
    assert "Note:" not in result.output


def test_export_under_a_folder_says_well_known_only_counts_at_the_top(run, tmp_path):
    write_profile(tmp_path)
    result = run("export", "--out", "site", "--base-url", "https://marshgate-ra.example.org/sub/")
    assert result.exit_code == 0, result.output
    assert ".well-known/hubnet only works at the top of a domain" in result.output
    assert json.loads((tmp_path / "site/.well-known/hubnet").read_text())["profile"] == \
        "https://marshgate-ra.example.org/sub/profile.jsonld"


def test_export_refuses_an_invalid_profile(run, tmp_path):
    write_profile(tmp_path, modified(name=None))
    result = run("export")
    assert result.exit_code == 1 and "name: missing" in result.output
    assert not Path(tmp_path / "site").exists()


def test_serve_refuses_a_missing_or_broken_profile(run, tmp_path):
    result = run("serve")
    assert result.exit_code == 2 and "hubnet-node init" in result.output
    (tmp_path / "profile.jsonld").write_text("{")
    result = run("serve")
    assert result.exit_code == 2 and "not valid JSON" in result.output
    write_profile(tmp_path)
    assert "only allowed with --host 127.0.0.1" in run("serve", "--debug", "--host", "0.0.0.0").output

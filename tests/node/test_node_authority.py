"""The aggregator's authority rule on the group's side: ``validate URL``, ``export --base-url``
(with and without ``--rebase``) and ``serve`` say, with the aggregator's own reason code
(``id_mismatch``) and words, when the profile's group is not on the site it is read from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import responses

from hubnet import vocab
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.settings import Settings

from node_helpers import example, modified, write_profile

ID = "https://marshgate-ra.example.org/#group"

# (where the profile is read from, the group's @id, does an aggregator accept it?)
FAMILY = [
    ("https://marshgate-ra.example.org/", ID, True),
    ("https://marshgate-ra.example.org/profile.jsonld", ID, True),
    ("https://MarshGate-RA.example.org:443/x/", ID, True),
    ("https://marshgate-ra.example.org/", "http://marshgate-ra.example.org/#group", True),  # moved to https
    ("http://marshgate-ra.example.org/", ID, False),           # plain http may not speak for https
    ("https://other.example.org/", ID, False),                 # another host
    ("https://marshgate-ra.example.org:8443/", ID, False),     # another port
    ("http://127.0.0.1:5000/", ID, False),                     # the laptop, with the real site's @id
    ("https://www.marshgate-ra.example.org/", ID, False),      # a subdomain is another site
]



def _aggregator_refuses(body: bytes, url: str) -> str | None:
    """The real crawler's parse stage on the same bytes: its reason code, or None when accepted."""
    try:
        parse_source(body, "application/ld+json", url, Settings())
    except vocab.DocumentError as exc:
        return exc.code
    return None


@pytest.mark.parametrize("url, group, accepted", FAMILY)
@responses.activate
def test_validate_url_applies_the_aggregators_rule(run, url, group, accepted):
    body = json.dumps(modified(**{"@id": group})).encode()
    responses.get(url, body=body, content_type="application/ld+json")
    assert (_aggregator_refuses(body, url) is None) == accepted  # the table is the aggregator's own answer
    result = run("validate", url)
    if accepted:
        assert result.exit_code == 0, result.output
        assert "id_mismatch" not in result.output
        return
    assert result.exit_code == 1, result.output
    assert f"id_mismatch: @id: the profile describes {group}, which is not on the site it was fetched from" \
        in result.output
    assert "To fix it" in result.output
    data = json.loads(run("validate", url, "--json").output)
    assert data["valid"] is False
    assert [(e["field"], e.get("code")) for e in data["errors"]] == [("@id", "id_mismatch")]
    crawler_words = vocab.authority.id_mismatch(group, url).message
    assert data["errors"][0]["message"] == "@id: " + crawler_words  # one function, the same words


def test_validate_file_has_no_site_to_compare_with(run, tmp_path):
    path = write_profile(tmp_path, modified(**{"@id": "https://elsewhere.example/#group"}))
    result = run("validate", str(path))
    assert result.exit_code == 0 and "id_mismatch" not in result.output


def test_the_crawler_refuses_with_the_shared_message():
    body = json.dumps(example()).encode()
    with pytest.raises(vocab.DocumentError) as caught:
        parse_source(body, "application/ld+json", "http://127.0.0.1:5000/profile.jsonld", Settings())
    assert caught.value.code == "id_mismatch"
    assert caught.value.message == vocab.authority.id_mismatch(ID, "http://127.0.0.1:5000/profile.jsonld").message


@pytest.mark.parametrize("url, group, accepted", FAMILY)
def test_export_refuses_a_base_url_the_aggregator_would_refuse(run, tmp_path, url, group, accepted):
    write_profile(tmp_path, modified(**{"@id": group}))
    result = run("export", "--out", "site", "--base-url", url)
    if accepted:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1, result.output
    assert "aggregators would refuse these files" in result.output
    assert f"the profile describes {group}, which is not on the site it was fetched from" in result.output
    assert "--rebase" in result.output
    assert not (tmp_path / "site").exists(), "nothing is written"


@pytest.mark.parametrize("base", ["https://someone.github.io/marshgate/", "http://127.0.0.1:5000",
                                  "https://marshgate-ra.example.org:8443/"])
def test_export_rebase_moves_the_groups_own_addresses(run, tmp_path, base):
    doc = example()
    doc["makesOffer"] = [{"@id": "https://marshgate-ra.example.org/#offer-hall", "@type": "Offer", "name": "Hall"}]
    source = write_profile(tmp_path, doc)
    before = source.read_bytes()
    result = run("export", "--out", "site", "--base-url", base, "--rebase")
    assert result.exit_code == 0, result.output
    slash = base if base.endswith("/") else base + "/"
    out = json.loads((tmp_path / "site/profile.jsonld").read_text())
    assert out["@id"] == slash + "#group" and out["url"] == slash
    assert out["makesOffer"][0]["@id"] == slash + "#offer-hall"
    assert out["memberOf"] == doc["memberOf"], "links to other sites are not moved"
    assert source.read_bytes() == before, "the profile file itself is unchanged"
    published = slash + "profile.jsonld"
    assert vocab.validate(out, published_at=published).conforms
    assert _aggregator_refuses((tmp_path / "site/profile.jsonld").read_bytes(), published) is None
    assert json.loads((tmp_path / "site/.well-known/hubnet").read_text())["id"] == slash + "#group"
    assert "were moved from https://marshgate-ra.example.org/" in result.output


# ------------------------------------------------------------------ serve
def serve_output(tmp_path: Path, *args, until="editor:", env_extra=None) -> tuple[str, int | None]:
    """Start the real ``hubnet-node serve``; (what it printed up to a line holding ``until``, or until it
    stopped when ``until`` is None; its exit code, None when it was still running)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    env.pop("HUBNET_NODE_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "hubnet.node", "serve", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if until is not None and until in line:
                break
    finally:
        code = proc.wait(timeout=10) if until is None else proc.poll()
        if code is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    return "".join(seen), code


@pytest.mark.slow
@pytest.mark.parametrize("group, public_url, warned", [
    (ID, None, True),                                            # init's real website, served on the laptop
    (ID, "https://marshgate-ra.example.org", False),             # behind a proxy at the group's site
    (ID, "https://other.example.org", True),                     # public_url on another site
    ("http://127.0.0.1:{port}/#group", None, False),             # a laptop profile on its own address
])
def test_serve_warns_when_the_profile_is_not_on_the_address_it_serves(tmp_path, group, public_url, warned):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    write_profile(tmp_path, modified(**{"@id": group.format(port=port)}))
    env = {"HUBNET_NODE_PUBLIC_URL": public_url} if public_url else {}
    output, code = serve_output(tmp_path, "--port", str(port), env_extra=env)
    assert code is None, output  # it started
    if warned:
        assert "Warning: aggregators will refuse this profile as served at" in output
        assert "id_mismatch: the profile describes" in output
        assert ("set public_url" in output) == (public_url is None)
    else:
        assert "id_mismatch" not in output, output


@pytest.mark.parametrize("public_url, warned", [("https://marshgate-ra.example.org", False),
                                                ("https://other.example.org", True),
                                                (None, False)])
def test_the_editor_says_when_the_public_url_is_not_the_groups_site(tmp_path, public_url, warned):
    from node_helpers import login, make_app
    app = make_app(tmp_path, PUBLIC_URL=public_url)
    client = app.test_client()
    login(client)
    page = client.get("/edit").get_data(as_text=True)
    assert ("id_mismatch" in page) == warned
    if warned:
        assert f"aggregators will refuse the profile at {public_url}/ (id_mismatch): @id: the profile describes" \
            in page

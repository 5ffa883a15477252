"""The laptop loop (issue 14): *.localhost is this computer under --allow-private, and a refusal
of a local address says how to test with it. Both through the CLI, as a user meets them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main

from fetch_fixtures import Loopback

JSONLD = {"Content-Type": "application/ld+json"}


@pytest.fixture(scope="module")
def loopback():
    lb = Loopback()
    yield lb
    lb.stop_all()


def crawl(tmp_path, *args):
    return CliRunner().invoke(main, ["crawl", *args, "--store", str(tmp_path / "store"), "--json",
                                     "--delay", "0"])


def failures(result) -> dict:
    assert result.exit_code == 0, result.output
    return {f["url"]: f for f in json.loads(result.output)["failures"]}


# Every kind of refused address: the local ones (loopback, private) name --allow-private; the others
# (cloud metadata, CGNAT, multicast, ...) must not suggest it, since no test site lives there.
@pytest.mark.parametrize("host, hint", [
    ("127.0.0.1", True), ("127.9.9.9", True), ("10.0.0.1", True), ("172.16.0.1", True),
    ("192.168.1.1", True), ("[::1]", True), ("[fd00::1]", True), ("[::ffff:127.0.0.1]", True),
    ("169.254.169.254", False), ("100.64.0.1", False), ("224.0.0.1", False), ("0.0.0.0", False),
    ("198.18.0.1", False), ("192.0.2.1", False), ("[fe80::1]", False), ("[2001:db8::1]", False),
])
def test_blocked_address_names_allow_private_for_local_addresses_only(tmp_path, host, hint):
    url = f"http://{host}/"
    (failure,) = failures(crawl(tmp_path, url)).values()
    assert failure["code"] == "blocked_address"
    assert ("--allow-private" in failure["message"]) is hint, failure["message"]


@pytest.mark.parametrize("url", ["http://elmroad.localhost/", "http://elmroad.localhost:5000/",
                                 "http://127.0.0.1:5000/", "http://localhost:5000/"])
def test_a_local_address_without_allow_private_says_how(tmp_path, url):
    # Whatever this machine's resolver does with the name (loopback, or nothing), and whichever
    # check refuses first (the port, the address), the answer names the flag.
    (failure,) = failures(crawl(tmp_path, url)).values()
    assert failure["code"] in ("blocked_address", "blocked_port", "dns_failed")
    assert "--allow-private" in failure["message"], failure["message"]


@pytest.mark.parametrize("name", ["elmroad.localhost", "b.elmroad.localhost", "ELMROAD.LOCALHOST", "localhost"])
def test_localhost_names_crawl_without_resolve(tmp_path, loopback, name):
    site = loopback.site({})
    base = f"http://{name.lower()}:{site.port}/"
    site.routes["/"] = (200, JSONLD, json.dumps({
        "@context": "https://schema.org/", "@id": base + "#group", "@type": "Organization",
        "name": "Elm Road Residents"}))
    result = crawl(tmp_path, f"http://{name}:{site.port}/", "--allow-private")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["sources"]["new"] == 1, summary
    assert site.log, "the site on loopback was read"


def test_resolve_still_wins_over_localhost(tmp_path, loopback):
    # An explicit --resolve for a .localhost name is what the operator asked for: the site listens
    # on 127.0.0.1 only, so the crawl fails at 127.0.0.2 instead of reading it.
    site = loopback.site({"/": (200, JSONLD, "{}")})
    result = crawl(tmp_path, f"http://elmroad.localhost:{site.port}/", "--allow-private",
                   "--resolve", f"elmroad.localhost:{site.port}:127.0.0.2")
    (failure,) = failures(result).values()
    assert "127.0.0.2" in failure["message"] and site.log == [], failure

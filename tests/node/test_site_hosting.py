"""A node hosting many groups (issue 17, item 1 and the hub half of item 3), through the CLI and over HTTP.

Each test drives ``hubnet-node site ...`` and the served site (SiteApp, what ``serve --site``
runs) on a loopback port with real logins, as a hub administrator and the groups would.
"""

from __future__ import annotations

import json

import pytest
import requests

from node_helpers import csrf_from, form_values
from site_helpers import HostedSite, cli, invite_links

PASSWORDS = {"alpha": "alpha-allotments-pw", "beta": "beta-bakers-password"}
NAMES = {"alpha": "Alpha Allotments", "beta": "Beta Bakers"}


@pytest.fixture(scope="module")
def hosted(tmp_path_factory):
    """Two accepted groups on one node."""
    site = HostedSite(tmp_path_factory.mktemp("hosting") / "hub")
    for slug, name in NAMES.items():
        link = site.add(name, slug=slug, email=f"{slug}@example.org", description=f"{name} on the hub.")
        assert site.accept(link, PASSWORDS[slug]).status_code == 200
    yield site
    site.close()


def _edit(site, session, target: str, description: str) -> requests.Response:
    """Load ``target``'s editor with ``session`` and submit a new description (as a browser would)."""
    page = session.get(f"{site.base}/{target}/edit", allow_redirects=False, timeout=10)
    if page.status_code != 200:
        return page
    values = form_values(page.text, f"/{target}/edit")
    values["description"] = description
    return session.post(f"{site.base}/{target}/edit", data=values, allow_redirects=False, timeout=10)


@pytest.mark.parametrize("who", sorted(PASSWORDS))
@pytest.mark.parametrize("target", sorted(PASSWORDS))
def test_each_group_edits_only_its_own_profile(hosted, who, target):
    session = hosted.login(who, PASSWORDS[who])
    assert session.last_login.status_code == 302
    before = {slug: hosted.profile(slug) for slug in PASSWORDS}
    resp = _edit(hosted, session, target, f"Edited by {who}.")
    if who == target:
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/{target}/edit")
        assert f"Edited by {who}." in hosted.profile(target).decode()
    else:  # not logged in there: sent to that group's login, and nothing changed anywhere
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/{target}/login")
        assert hosted.profile(target) == before[target]
    assert all(hosted.profile(s) == before[s] for s in PASSWORDS if s != target)


@pytest.mark.parametrize("who, target", [("alpha", "beta"), ("beta", "alpha")])
def test_a_groups_session_cannot_post_to_anothers_editor(hosted, who, target):
    session = hosted.login(who, PASSWORDS[who])
    own = session.get(f"{hosted.base}/{who}/edit", timeout=10).text
    values = form_values(own, f"/{who}/edit")
    values["description"] = "Hijacked."
    before = hosted.profile(target)
    # Even sending the other group's cookie by hand: it is signed with another key and named for another group.
    for cookie in list(session.cookies):
        session.cookies.set(cookie.name, cookie.value, path=f"/{target}/")
    resp = session.post(f"{hosted.base}/{target}/edit", data=values, allow_redirects=False, timeout=10)
    assert resp.status_code in (302, 400), resp.status_code
    assert resp.status_code == 400 or resp.headers["Location"].endswith(f"/{target}/login")
    assert hosted.profile(target) == before


@pytest.mark.parametrize("who, target", [("alpha", "beta"), ("beta", "alpha")])
def test_a_groups_password_does_not_open_another_group(hosted, who, target):
    session = hosted.login(target, PASSWORDS[who])
    assert session.last_login.status_code == 403
    assert session.get(f"{hosted.base}/{target}/edit", allow_redirects=False, timeout=10).status_code == 302


def test_session_cookies_are_named_and_scoped_per_group(hosted):
    for slug in PASSWORDS:
        session = hosted.login(slug, PASSWORDS[slug])
        cookies = [(c.name, c.path) for c in session.cookies]
        assert (f"hubnet_{slug}", f"/{slug}/") in cookies, cookies
        assert all(path.startswith(f"/{slug}/") for _n, path in cookies), cookies


def test_the_site_declares_hosting_by_path_and_indexes_published_groups(hosted):
    well_known = hosted.get("/.well-known/hubnet").json()
    assert well_known["hosting"] == "path"
    assert sorted(well_known["groups"]) == [f"{hosted.base}/{s}/profile.jsonld" for s in sorted(NAMES)]
    index = hosted.get("/index.json").json()
    assert {g["name"]: g["id"] for g in index["groups"]} == {n: f"{hosted.base}/{s}/#group" for s, n in NAMES.items()}
    assert hosted.get("/", headers={"Accept": "application/json"}).json() == index
    page = hosted.get("/", headers={"Accept": "text/html"}).text
    assert all(f'href="/{s}/"' in page and n in page for s, n in NAMES.items())
    profile = hosted.get("/alpha/profile.jsonld").json()
    assert profile["@id"] == f"{hosted.base}/alpha/#group" and profile["name"] == "Alpha Allotments"
    assert hosted.get("/alpha").status_code == 301 and hosted.get("/alpha").headers["Location"].endswith("/alpha/")


# ------------------------------------------------------------------ drafts, invites, suspend, move
@pytest.fixture
def site(tmp_path):
    s = HostedSite(tmp_path / "hub")
    yield s
    s.close()


PUBLIC_PATHS = ("/{slug}/", "/{slug}/profile.jsonld", "/{slug}/profile.ttl", "/{slug}/edit", "/{slug}/login")


def _listed(site, slug) -> bool:
    return (any(g["url"].endswith(f"/{slug}/") for g in site.get("/index.json").json()["groups"])
            or any(f"/{slug}/" in u for u in site.get("/.well-known/hubnet").json()["groups"]))


def _state(site, slug) -> str:
    rows = json.loads(site.site("list", "--json").output)
    return next(r["state"] for r in rows if r["slug"] == slug)


def test_a_draft_is_unpublished_until_the_group_accepts(site):
    result = site.site("add", "Gamma Gardeners", "--email", "g@example.org")
    assert result.exit_code == 0, result.output
    assert _state(site, "gamma-gardeners") == "draft"
    link = invite_links(site.site("invite", "gamma-gardeners").output)[0]
    assert _state(site, "gamma-gardeners") == "invited"
    for path in PUBLIC_PATHS:
        assert site.get(path.format(slug="gamma-gardeners")).status_code == 404, path
    assert not _listed(site, "gamma-gardeners")
    assert site.accept(link, "gamma-gardeners-pw").status_code == 200
    assert _state(site, "gamma-gardeners") == "active"
    assert site.get("/gamma-gardeners/profile.jsonld").status_code == 200
    assert _listed(site, "gamma-gardeners")
    log = [json.loads(line) for line in (site.folder / "log.jsonl").read_text().splitlines()]
    assert [e["action"] for e in log] == ["init", "add", "invite", "accept"]
    assert all(e["at"] and e["who"] for e in log)


def _replaced(site, link):
    site.site("invite", "delta")
    return link


def _used(site, link):
    assert site.accept(link, "the-first-password").status_code == 200
    return link


def _expired(site, link):
    site.clock.advance(days=14, seconds=1)
    return link


def _tampered(site, link):
    return link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")


@pytest.mark.parametrize("spoil", [_used, _expired, _replaced, _tampered], ids=lambda f: f.__name__[1:])
def test_an_invite_works_once_and_not_after_it_expires(site, spoil):
    link = spoil(site, site.add("Delta Dancers", slug="delta", email="d@example.org"))
    before = (site.folder / "groups" / "delta" / ".hubnet-node").exists() and \
        (site.folder / "groups" / "delta" / ".hubnet-node" / "password").read_bytes()
    page = requests.get(link, timeout=10)
    assert page.status_code == 410 and "invite" in page.text
    answer = site.accept(link, "someone-elses-password")
    assert answer.status_code == 410
    session = site.login("delta", "someone-elses-password")
    assert session.last_login.status_code in (403, 404)
    after = (site.folder / "groups" / "delta" / ".hubnet-node").exists() and \
        (site.folder / "groups" / "delta" / ".hubnet-node" / "password").read_bytes()
    assert after == before


def test_an_invite_is_stored_only_hashed(site):
    link = site.add("Eta Eaters", slug="eta", email="e@example.org")
    token = link.rsplit("/", 1)[1]
    for path in site.folder.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_the_invite_expiry_is_a_setting(tmp_path):
    s = HostedSite(tmp_path / "hub", invite_days=2)
    try:
        link = s.add("Theta", email="t@example.org")
        s.clock.advance(days=2, seconds=1)
        assert s.accept(link, "theta-password-1").status_code == 410
    finally:
        s.close()


def test_suspend_hides_a_group_and_unsuspend_brings_it_back(site):
    site.accept(site.add("Zeta Zine", slug="zeta", email="z@example.org"), "zeta-zine-password")
    session = site.login("zeta", "zeta-zine-password")
    profile = site.profile("zeta")
    result = site.site("suspend", "zeta")
    assert result.exit_code == 0, result.output
    for path in PUBLIC_PATHS:
        assert site.get(path.format(slug="zeta")).status_code == 410, path
    assert session.get(f"{site.base}/zeta/edit", allow_redirects=False, timeout=10).status_code == 410
    assert not _listed(site, "zeta")
    assert site.profile("zeta") == profile  # suspended, not rewritten
    assert site.site("unsuspend", "zeta").exit_code == 0
    assert site.get("/zeta/profile.jsonld").status_code == 200 and _listed(site, "zeta")


def test_a_group_that_unpublishes_itself_leaves_the_index(site):
    site.accept(site.add("Nu Neighbours", slug="nu", email="n@example.org"), "nu-neighbours-pw")
    session = site.login("nu", "nu-neighbours-pw")
    token = csrf_from(session.get(f"{site.base}/nu/edit", timeout=10).text)
    assert session.post(f"{site.base}/nu/edit/unpublish", data={"csrf_token": token}, timeout=10).ok
    assert site.get("/nu/profile.jsonld").status_code == 410 and not _listed(site, "nu")
    assert _state(site, "nu") == "active"  # the group's own choice: the hub's register is unchanged
    token = csrf_from(session.get(f"{site.base}/nu/edit", timeout=10).text)
    assert session.post(f"{site.base}/nu/edit/publish", data={"csrf_token": token}, timeout=10).ok
    assert site.get("/nu/profile.jsonld").status_code == 200 and _listed(site, "nu")


def test_a_moved_group_is_answered_with_a_permanent_redirect(site, tmp_path):
    site.accept(site.add("Iota Ironworks", slug="iota", email="i@example.org"), "iota-ironworks-pw")
    out = tmp_path / "leaving"
    result = site.site("export", "iota", "--out", out, "--base-url", "https://iota.example.org/")
    assert result.exit_code == 0, result.output
    exported = json.loads((out / "profile.jsonld").read_text())
    assert exported["@id"] == "https://iota.example.org/#group"
    assert exported["sameAs"] == [f"{site.base}/iota/#group"]
    assert exported["name"] == "Iota Ironworks"
    result = site.site("move", "iota", "--to", "https://iota.example.org/")
    assert result.exit_code == 0, result.output
    assert _state(site, "iota") == "moved"
    for path in ("/iota/", "/iota/profile.jsonld", "/iota/edit"):
        resp = site.get(path)
        assert (resp.status_code, resp.headers.get("Location")) == (301, "https://iota.example.org/"), path
    assert not _listed(site, "iota")


# ------------------------------------------------------------------ refusals: clear, non-zero, nothing changed
REFUSALS = {
    "unknown group": (["invite", "nobody"], "there is no group 'nobody'"),
    "invite an active group": (["invite", "kappa"], "kappa is active"),
    "suspend a draft": (["suspend", "lambda"], "lambda is draft"),
    "unsuspend an active group": (["unsuspend", "kappa"], "kappa is active"),
    "move a draft": (["move", "lambda", "--to", "https://l.example.org/"], "lambda is draft"),
    "move to no address": (["move", "kappa", "--to", "not a url"], "must be the group's new web address"),
    "move to its own page": (["move", "kappa", "--to", "{base}/kappa/"], "must be the group's new web address"),
    "move a bad slug": (["move", "../etc", "--to", "https://x.example.org/"], "cannot be a group's address"),
    "export a bad slug": (["export", "..", "--out", "out"], "there is no group '..'"),
    "add a taken slug": (["add", "Kappa again", "--slug", "kappa"], "already a group at /kappa/"),
    "add a reserved slug": (["add", "Invite", "--slug", "invite"], "cannot be a group's address"),
    "add a bad email": (["add", "Mu", "--email", "mu@"], "--email"),
    "add a bad postcode": (["add", "Mu", "--email", "m@example.org", "--postcode", "ZZZ"], "--postcode"),
    "add a bad kind": (["add", "Mu", "--email", "m@example.org", "--kind", "cult"], "--kind"),
    "add a bad website": (["add", "Mu", "--email", "m@example.org", "--website", "ftp://x"], "--website"),
    "add with no contact": (["add", "Mu"], "no way to contact"),
    "export into the site": (["export", "kappa", "--out", "{site}/groups"], "overlaps the site folder"),
}


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """One site for every refusal (each changes nothing, which the test checks): kappa active, lambda a draft."""
    s = HostedSite(tmp_path_factory.mktemp("refusals") / "hub")
    s.accept(s.add("Kappa Knitters", slug="kappa", email="k@example.org"), "kappa-knitters-pw")
    assert s.site("add", "Lambda", "--slug", "lambda", "--email", "l@example.org").exit_code == 0
    yield s
    s.close()


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_administrative_commands_are_refused_and_change_nothing(refusing, case, tmp_path, monkeypatch):
    site = refusing
    monkeypatch.chdir(tmp_path)
    args, message = REFUSALS[case]
    files = {p: p.read_bytes() for p in site.folder.rglob("*") if p.is_file() and p.name != "lock"}
    result = site.site(*[a.replace("{site}", str(site.folder)).replace("{base}", site.base) for a in args])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output, result.output
    assert {p: p.read_bytes() for p in site.folder.rglob("*") if p.is_file() and p.name != "lock"} == files


@pytest.mark.parametrize("folder_state", ["missing", "not a site", "damaged"])
def test_a_folder_that_is_not_a_site_is_refused(tmp_path, folder_state):
    folder = tmp_path / "hub"
    if folder_state != "missing":
        folder.mkdir()
    if folder_state == "damaged":
        (folder / "site.json").write_text("{not json")
    for args in (["list"], ["add", "X", "--email", "x@example.org"], ["invite", "x"]):
        result = cli("site", *args, "--site", folder)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert "site" in result.output
    if folder_state == "damaged":
        assert (folder / "site.json").read_text() == "{not json"


def test_init_refuses_an_existing_site_and_a_public_url_with_a_path(tmp_path):
    assert cli("site", "init", tmp_path / "hub", "--public-url", "https://hub.example.org").exit_code == 0
    before = (tmp_path / "hub" / "site.json").read_bytes()
    again = cli("site", "init", tmp_path / "hub", "--public-url", "https://other.example.org")
    assert again.exit_code == 1 and "already a hosting site" in again.output
    assert (tmp_path / "hub" / "site.json").read_bytes() == before
    sub = cli("site", "init", tmp_path / "hub2", "--public-url", "https://hub.example.org/groups")
    assert sub.exit_code == 1 and "top of a web site" in sub.output and not (tmp_path / "hub2").exists()


# ------------------------------------------------------------------ the site's own pages under attack
def test_the_invite_form_needs_its_csrf_token(site):
    link = site.add("Xi Xylophones", slug="xi", email="x@example.org")
    session = requests.Session()
    session.get(link, timeout=10)  # a session cookie, but no token from the form
    for data in ({"password": "attacker-chosen-pw", "again": "attacker-chosen-pw"},
                 {"csrf_token": "forged", "password": "attacker-chosen-pw", "again": "attacker-chosen-pw"}):
        assert session.post(link, data=data, timeout=10).status_code == 400
    assert _state(site, "xi") == "invited"
    assert site.accept(link, "the-groups-own-pw").status_code == 200  # the link still works for the group


def test_names_are_escaped_on_the_sites_pages(site):
    name = '<script>alert(1)</script> "Club"'
    link = site.add(name, slug="omicron", email="o@example.org")
    assert "<script>" not in requests.get(link, timeout=10).text
    site.accept(link, "omicron-club-password")
    index = site.get("/", headers={"Accept": "text/html"})
    assert "<script>alert" not in index.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in index.text
    assert "script-src" not in index.headers["Content-Security-Policy"]
    assert index.headers["Content-Security-Policy"].startswith("default-src 'none'")


# ------------------------------------------------------------------ hubnet-node serve --site itself
@pytest.mark.slow
def test_serve_site_with_waitress_on_a_free_loopback_port(tmp_path):
    import os
    import re
    import subprocess
    import sys
    import time

    assert cli("site", "init", tmp_path / "hub", "--public-url", "https://hub.example.org").exit_code == 0
    env = {k: v for k, v in os.environ.items() if k != "HUBNET_NODE_CONFIG"}
    proc = subprocess.Popen([sys.executable, "-m", "hubnet.node", "serve", "--site", str(tmp_path / "hub"),
                             "--port", "0"], env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        base, seen = None, []
        deadline = time.monotonic() + 30
        while base is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"site index:\s+(http://127\.0\.0\.1:\d+)/", line)
            base = match and match.group(1)
        assert base, "".join(seen)
        resp = requests.get(base + "/.well-known/hubnet", timeout=5)
        assert resp.headers["Server"] == "hubnet-node"
        assert resp.json() == {"hubnet": "0.1", "hosting": "path", "index": "https://hub.example.org/index.json",
                               "groups": []}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("args, message", [
    (["--site", "nowhere"], "is not a hosting site folder"),
    (["--site", "hub", "--profile", "profile.jsonld"], "takes no --profile"),
])
def test_serve_site_refuses_what_it_cannot_serve(run, args, message):
    result = run("serve", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output

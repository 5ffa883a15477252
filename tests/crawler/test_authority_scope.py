"""The path rule of a host that hosts groups by path (authority.scope / speaks_for(by_path=True)), table-driven."""

import pytest

from hubnet.vocab.authority import hosting_rule, scope, speaks_for

H = "https://hub.example.org"

SCOPES = {
    f"{H}/": "/", f"{H}": "/", f"{H}/#hub": "/", f"{H}/profile.jsonld": "/", f"{H}/alpha": "/",
    f"{H}/alpha/": "/alpha/", f"{H}/alpha/#group": "/alpha/", f"{H}/alpha/profile.jsonld": "/alpha/",
    f"{H}/alpha/x/y#z": "/alpha/", f"{H}/alpha/?q=/beta/": "/alpha/",
    f"{H}/alpha/../beta/#group": None, f"{H}/./alpha/": None, f"{H}/alpha%2Fbeta/": None,
    f"{H}/alpha/%2e%2e/beta/": None, f"{H}/alpha\\..\\beta/": None,
}


@pytest.mark.parametrize("url", SCOPES)
def test_scope(url):
    assert scope(url) == SCOPES[url]


DOC = f"{H}/alpha/profile.jsonld"
SPEAKS = {  # subject -> (by path, by origin)
    f"{H}/alpha/#group": (True, True),
    f"{H}/alpha/#_b1": (True, True),
    f"{H}/beta/#group": (False, True),
    f"{H}/#hub": (False, True),
    f"{H}/alpha": (False, True),
    f"{H}/alpha/../beta/#group": (False, True),
    "https://other.example.org/alpha/#group": (False, False),
    f"http://hub.example.org/alpha/#group": (True, True),
}


@pytest.mark.parametrize("subject", SPEAKS)
def test_speaks_for_by_path_and_by_origin(subject):
    assert (speaks_for(DOC, subject, by_path=True), speaks_for(DOC, subject)) == SPEAKS[subject]


@pytest.mark.parametrize("body, rule", [
    (b'{"hosting": "path"}', "path"), (b'{"hosting": "path", "profile": "/p"}', "path"),
    (b'{"profile": "/p"}', "origin"), (b'{"hosting": "origin"}', "origin"), (b'{"hosting": ["path"]}', "origin"),
    (b'["path"]', "origin"), (b"not json", "origin"), (b"\xff\xfe", "origin"), (b"", "origin"),
])
def test_hosting_rule(body, rule):
    assert hosting_rule(body) == rule

"""Is a link term's string a web address (vocab/validate.py ``_is_web_address``, issue 18)?

The rule: it starts with http:// or https:// (any case), holds no space, ``<>"{}|\\^``` or backquote, and
``urlsplit`` finds a host in it (a ValueError from urlsplit is a no). A plain address (ASCII host of
letters, digits, dots and hyphens, maybe a port, then the end or / ? #) is answered without urlsplit:
the whole family below, and thousands of generated strings, get the answer of the rule as written
with urlsplit, and every door says the same (``hubnet-node validate``, the crawl's problems).
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from hubnet.node.cli import main
from hubnet.vocab.validate import _is_web_address

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "examples" / "profile.jsonld").read_text(encoding="utf-8"))
_BAD = re.compile(r'[\s<>"{}|\\^`]')


def by_urlsplit(value: str) -> bool:
    """The rule as written before the shortcut: urlsplit for every candidate."""
    if not value.lower().startswith(("http://", "https://")) or _BAD.search(value):
        return False
    try:
        return bool(urlsplit(value).hostname)
    except ValueError:
        return False


# (value, is it a web address)
FAMILY = [
    ("http://a.example", True), ("https://a.example/", True), ("HTTP://A.EXAMPLE/x", True),
    ("hTtPs://a.example?q=1", True), ("https://a.example#f", True), ("https://a.example:8080/", True),
    ("https://a.example:/", True), ("https://a.example:99999/", True), ("http://127.0.0.1/", True),
    ("http://-/", True), ("http://./", True), ("http://a..b/", True), ("https://a_b.example/", True),
    ("https://user@a.example/", True), ("https://user:pw@a.example/", True), ("https://[::1]/", True),
    ("https://[::1]:80/", True), ("https://a.example:80x/", True), ("https://a.example:8:8/", True),
    ("https://ünï.example/", True), ("https://a.example/ünï", True), ("https://a.example\x01", True),
    ("https://\x01/", True),
    ("http://", False), ("https:///x", False), ("https://:80/", False), ("https://?q", False),
    ("https://#f", False), ("https://@/", False), ("https://user@/", False), ("https://[::1/", False),
    ("https://::1]/", False), ("https://a.example\uff0f@b/", False), ("https://a\u2100b/", False),
    ("https://a example/", False), ("https://a.example/ x", False), ("https://a.example/\tx", False),
    ("https://a.example/<x>", False), ('https://a.example/"', False), ("https://a.example/{x}", False),
    ("https://a.example/|", False), ("https://a.example/\\", False), ("https://a.example/^", False),
    ("https://a.example/`", False), ("https://a.example\n", False), ("ftp://a.example/", False),
    ("javascript:alert(1)", False), ("//a.example/", False), ("a.example", False), ("just words", False),
    ("https:/a.example/", False), ("https:a.example", False), ("httpſ://a.example/", False),
    ("ｈttps://a.example/", False), ("", False),
]


@pytest.mark.parametrize("value, expected", FAMILY, ids=[repr(v) for v, _ in FAMILY])
def test_each_member_of_the_family_gets_the_rules_answer(value, expected):
    assert by_urlsplit(value) is expected   # the table itself is the rule's answer
    assert _is_web_address(value) is expected


def test_generated_strings_get_the_rules_answer():
    """Prefixes the shortcut might take, followed by every kind of character that matters to urlsplit."""
    rng = random.Random(18)
    heads = ["http://", "https://", "HTTP://", "Https://", "http:/", "https:", "ftp://", "http://[", "https://@"]
    alphabet = list("aZ09.-_:@/?#[]%") + [" ", "\t", "\x00", "\x7f", "é", "\uff0f", "\uff1a", "ſ", "\u2100", "İ"]
    checked = 0
    for _ in range(20_000):
        value = rng.choice(heads) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert _is_web_address(value) == by_urlsplit(value), repr(value)
        checked += _is_web_address(value)
    assert checked > 1_000   # the shortcut's side of the family was reached, not only the refusals


DOOR_CASES = [(v, ok) for v, ok in FAMILY if v.lower().startswith(("http://", "https://")) and not _BAD.search(v)]


@pytest.mark.parametrize("value, expected", DOOR_CASES, ids=[repr(v) for v, _ in DOOR_CASES])
def test_hubnet_node_validate_says_the_same(tmp_path, value, expected):
    """Through the user's door: the example profile with the value as its licence (a link term)."""
    doc = copy.deepcopy(EXAMPLE)
    doc["license"] = {"@id": value}
    (tmp_path / "profile.jsonld").write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "profile.jsonld")], catch_exceptions=False)
    said = f"license: {value!r} is not a web address" in result.output
    assert said is not expected, result.output

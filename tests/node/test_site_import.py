"""``hubnet-node site import``: a hub's spreadsheet into drafts with invites (issue 17, item 4).

A realistic sample (tests/data/hub-groups.csv: good rows, and rows with a bad email, postcode, kind,
website, a missing name and a duplicate) and files that are not a CSV of that shape, which are refused
with nothing in the site changed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from hubnet import vocab

from site_helpers import HostedSite, cli, invite_links

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "hub-groups.csv"
GOOD = {"marsh-gate-residents-association": "Marsh Gate Residents' Association",
        "leybridge-lunch-club": "Leybridge Lunch Club", "marsh-end-mutual-aid": "Marsh End Mutual Aid"}
BAD = {  # line -> what the report must name
    4: "email", 5: "postcode", 6: "kind", 7: "name", 8: "already on line 3 of this file", 10: "website"}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    site = HostedSite(tmp_path_factory.mktemp("import") / "hub")
    out = site.folder.parent / "invites.csv"
    result = site.site("import", SAMPLE, "--out", out)
    yield site, result, out
    site.close()


def test_good_rows_become_drafts_with_invites(imported):
    site, result, out = imported
    assert result.exit_code == 1, result.output  # some rows were not used: said, and non-zero
    rows = json.loads(site.site("list", "--json").output)
    assert {r["slug"]: r["name"] for r in rows} == GOOD
    assert {r["state"] for r in rows} == {"invited"}
    for slug in GOOD:
        doc = json.loads(site.profile(slug))
        assert doc["@id"] == f"{site.base}/{slug}/#group"
        assert vocab.validate(doc, published_at=f"{site.base}/{slug}/profile.jsonld").conforms
    marsh = json.loads(site.profile("marsh-gate-residents-association"))
    assert marsh["additionalType"] == "residents-association"
    assert marsh["knowsAbout"] == ["housing", "green spaces"]
    assert marsh["location"]["address"]["postalCode"] == "E10 5AA"
    assert marsh["memberOf"] == "https://leyton-network.example.org/#group"
    assert marsh["contactPoint"]["telephone"] == "020 8555 0101"
    mutual = json.loads(site.profile("marsh-end-mutual-aid"))
    assert mutual["additionalType"] == "mutual-aid-group"  # the kind's label is understood too
    assert "email" not in mutual["contactPoint"]


def test_every_unusable_row_is_reported_by_line_and_column(imported):
    _site, result, _out = imported
    for line, word in BAD.items():
        report = [l for l in result.output.splitlines() if l.startswith(f"line {line} ")]
        assert report and word in report[0] and "not imported" in report[0], (line, result.output)
    assert "Ignored columns (not used by hubnet): notes" in result.output
    assert "Imported 3 of 9 rows" in result.output


def test_the_invite_links_file_lets_each_group_accept(imported):
    site, _result, out = imported
    with out.open(newline="") as fh:
        links = list(csv.DictReader(fh))
    assert [r["slug"] for r in links] == list(GOOD)
    assert links[0]["email"] == "hello@marshgate.example.org"
    assert site.get("/leybridge-lunch-club/").status_code == 404
    accepted = site.accept(links[1]["invite"], "lunch-club-password")
    assert accepted.status_code == 200
    assert site.get("/leybridge-lunch-club/profile.jsonld").json()["name"] == "Leybridge Lunch Club"


def test_importing_again_adds_nothing_twice(imported):
    site, _result, _out = imported
    before = (site.folder / "site.json").read_bytes()
    again = site.site("import", SAMPLE)
    assert again.exit_code == 1 and "nothing was imported" in again.output
    assert "already on the site, as marsh-gate-residents-association" in again.output
    assert (site.folder / "site.json").read_bytes() == before


def _snapshot(folder: Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "lock"}


BROKEN = {
    "binary": (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256)), "not a text file"),
    "not UTF-8": ("name,email\nCaf\xe9 Club,c@example.org\n".encode("latin-1"), "not UTF-8"),
    "empty": (b"", "is empty"),
    "only blank lines": (b"\n\n  \n", "is empty"),
    "wrong header": (b"Group,Contact\nMarsh Gate,hello@marshgate.example.org\n", "header row"),
    "no name column": (b"email,postcode\nhello@x.example.org,E10 5AA\n", "header row"),
    "a column twice": (b"name,email,email\nA,a@example.org,b@example.org\n", "twice"),
    "JSON instead": (b'[{"name": "A", "email": "a@example.org"}]', "header row"),
    "huge": (b"name,email\n" + b"A Group,a@example.org\n" * 200_000, "KiB"),
    "too many rows": (b"name,email\n" + b"".join(b"G%d,g%d@example.org\n" % (i, i) for i in range(2001)), "rows"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_file_that_is_not_such_a_csv_is_refused_and_nothing_changes(tmp_path, case):
    assert cli("site", "init", tmp_path / "hub", "--public-url", "https://hub.example.org").exit_code == 0
    before = _snapshot(tmp_path / "hub")
    body, message = BROKEN[case]
    path = tmp_path / "groups.csv"
    path.write_bytes(body)
    result = cli("site", "import", path, "--site", tmp_path / "hub")
    assert result.exit_code == 1, result.output
    assert "nothing was imported" in result.output and message in result.output, result.output
    assert "Traceback" not in result.output
    assert _snapshot(tmp_path / "hub") == before


def test_a_missing_file_and_a_dry_run_write_nothing(tmp_path):
    assert cli("site", "init", tmp_path / "hub", "--public-url", "https://hub.example.org").exit_code == 0
    before = _snapshot(tmp_path / "hub")
    missing = cli("site", "import", tmp_path / "nope.csv", "--site", tmp_path / "hub")
    assert missing.exit_code == 1 and "there is no file" in missing.output
    dry = cli("site", "import", SAMPLE, "--site", tmp_path / "hub", "--dry-run")
    assert dry.exit_code == 1 and "3 of 9 rows can be imported (nothing written)" in dry.output
    assert not invite_links(dry.output)
    assert _snapshot(tmp_path / "hub") == before


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_the_invite_links_file_is_safe_to_open_in_a_spreadsheet(tmp_path, start):
    """A hub's sheet is copied from many hands: a name that a spreadsheet would run as a formula
    comes back in the invite links file as text (the one neutraliser, vocab/spreadsheet.py)."""
    assert cli("site", "init", tmp_path / "hub", "--public-url", "https://hub.example.org").exit_code == 0
    name = f'{start}HYPERLINK("https://evil.example/","Lunch Club")'
    path = tmp_path / "groups.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([["name", "email"], [name, "club@example.org"]])
    out = tmp_path / "invites.csv"
    result = cli("site", "import", path, "--site", tmp_path / "hub", "--out", out)
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["name"] == "'" + name

"""docs/profile.md cannot rot: every JSON and HTML example in it is checked.

Each ```json / ```html block in the page is preceded by a marker comment
saying what it is and what checking it must give:

    <!-- check: profile [name=N] [errors=f1,f2] [warnings=f3] [groups=iri] -->   a whole profile
    <!-- check: fragment [errors=...] [warnings=...] -->  entries to put in a profile: they are added
                                                           to the page's first profile and checked
    <!-- check: html [groups=...] [errors=...] [warnings=...] -->   a web page's script blocks
    <!-- check: refused=CODE -->                          must be refused with DocumentError(CODE)
    <!-- check: report of=N -->   (```text)   must equal str(report) of profile N
    <!-- check: report-json of=N -->  (```json)  must equal report.to_dict() of profile N
    <!-- check: cli-output of=N -->  (```text)  what `hubnet-node validate profile.jsonld` prints for
                                                profile N (checked once hubnet.node.cli exists)

``errors`` and ``warnings`` list the exact fields reported (none when left out).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import URIRef
from rdflib.namespace import RDF

from hubnet import vocab

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "profile.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

_FENCE = re.compile(r"(?:<!-- check: (?P<check>[^>]*?) -->\n)?```(?P<lang>[\w-]*)\n(?P<body>.*?)\n```", re.S)


def _blocks() -> list[dict]:
    out = []
    for m in _FENCE.finditer(DOC):
        line = DOC.count("\n", 0, m.start()) + 1
        out.append({"line": line, "lang": m.group("lang"), "body": m.group("body"),
                    "check": _parse_check(m.group("check"))})
    return out


def _parse_check(text: str | None) -> dict | None:
    if text is None:
        return None
    kind, *options = text.split()
    check = {"kind": kind}
    if "=" in kind:
        kind, value = kind.split("=", 1)
        check = {"kind": kind, "code": value}
    for opt in options:
        key, value = opt.split("=", 1)
        check[key] = value if key in ("name", "of") else [v for v in value.split(",") if v]
    return check


BLOCKS = _blocks()
CHECKED = [b for b in BLOCKS if b["check"] is not None]
PROFILES = [b for b in CHECKED if b["check"]["kind"] == "profile"]
BASE = json.loads(PROFILES[0]["body"])  # "the shortest profile that works"


def _report_of(name: str):
    [block] = [b for b in PROFILES if b["check"].get("name") == name]
    return vocab.validate(json.loads(block["body"]))


def _fields(issues) -> list:
    return sorted(i.field for i in issues)


def _local(iri) -> str:
    return re.split(r"[/#]", str(iri))[-1]


def test_the_page_has_examples_and_every_json_or_html_block_is_checked():
    assert len(PROFILES) >= 4
    assert len([b for b in CHECKED if b["check"]["kind"] == "fragment"]) >= 20
    unchecked = [b["line"] for b in BLOCKS if b["lang"] in ("json", "html") and b["check"] is None]
    assert unchecked == [], f"docs/profile.md blocks without a check marker, at lines {unchecked}"
    known = {"profile", "fragment", "html", "refused", "report", "report-json", "cli-output"}
    assert {b["check"]["kind"] for b in CHECKED} <= known


@pytest.mark.parametrize("block", CHECKED, ids=lambda b: f"line{b['line']}-{b['check']['kind']}")
def test_documented_example(block):
    check, body = block["check"], block["body"]
    kind = check["kind"]
    if kind == "profile":
        report = vocab.validate(json.loads(body))
        assert _fields(report.errors) == sorted(check.get("errors", [])), str(report)
        assert _fields(report.warnings) == sorted(check.get("warnings", [])), str(report)
        if "groups" in check:
            assert report.groups == check["groups"]
    elif kind == "fragment":
        _check_fragment(json.loads("{" + body + "}"), check)
    elif kind == "html":
        assert block["lang"] == "html"
        report = vocab.validate(body, media_type="text/html")
        assert report.groups == check["groups"]
        assert _fields(report.errors) == sorted(check.get("errors", [])), str(report)
        assert _fields(report.warnings) == sorted(check.get("warnings", [])), str(report)
    elif kind == "refused":
        with pytest.raises(vocab.DocumentError) as exc:
            vocab.validate(json.loads(body))
        assert exc.value.code == check["code"]
    elif kind == "report":
        assert body.strip() == str(_report_of(check["of"]))
    elif kind == "report-json":
        assert json.loads(body) == _report_of(check["of"]).to_dict()
    elif kind == "cli-output":
        assert body.startswith("profile.jsonld: ")
        assert body[len("profile.jsonld: "):] == str(_report_of(check["of"]))


def _check_fragment(fragment: dict, check: dict) -> None:
    doc = copy.deepcopy(BASE)
    doc.update(fragment)
    report = vocab.validate(doc)
    assert _fields(report.errors) == sorted(check.get("errors", [])), str(report)
    # Warnings about the fragment's own entries (the base profile's "missing" ones are expected).
    touched = [w for w in report.warnings if re.split(r"[.\[]", w.field)[0] in fragment]
    assert _fields(touched) == sorted(check.get("warnings", [])), str(report)
    if check.get("errors"):
        return
    # Every entry of the fragment really reaches the group (nothing silently dropped).
    graph = vocab.load(doc)
    group = URIRef(doc["@id"])
    said = {_local(p) for p in graph.predicates(group, None)}
    for key in fragment:
        if key == "@type":
            assert (group, RDF.type, vocab.SCHEMA[fragment[key]]) in graph
        elif not key.startswith("@"):
            assert key in said, f"{key!r} produced no statement about the group"
            assert len(list(graph.objects(group, _predicate(graph, group, key)))) == len(
                fragment[key] if isinstance(fragment[key], list) else [fragment[key]]), key


def _predicate(graph, group, local):
    return next(p for p in graph.predicates(group, None) if _local(p) == local)


# --------------------------------------------------------------------------- tables in the page

def _table_rows(first_header: str) -> list[list[str]]:
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_kinds_table_matches_the_scheme():
    rows = _table_rows("slug")
    assert rows == [[f"`{k.slug}`", k.label, k.definition] for k in vocab.kinds()]


def test_categories_table_matches_the_scheme():
    rows = _table_rows("category")
    assert rows == [[f"`{c.slug}`", c.label, c.definition] for c in vocab.categories()]


def test_every_group_type_is_listed():
    section = DOC[DOC.index("### `@type`"):DOC.index("### `name`")]
    listed = set(re.findall(r"`([A-Z]\w+)`", section)) - {"Person"}
    assert listed == {_local(t) for t in vocab.GROUP_TYPES}


def _nested(path: str, value) -> dict:
    parts = path.split(".")
    top: dict = {}
    node = top
    for part in parts[:-1]:
        node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    if parts[0] in ("makesOffer", "seeks") and parts[-1] != "name":
        top[parts[0]]["name"] = "Offer"
    return top


def _value_of_length(path: str, n: int) -> str:
    if path.endswith("email"):
        return "a" * (n - len("@example.org")) + "@example.org"
    if path.endswith("telephone"):
        return "0" * n
    return "x" * n


LIMIT_ROWS = [(m.group(1), int(m.group(2)))
              for m in re.finditer(r"^\| `([\w.@]+)` \| at most (\d+) characters", DOC, re.M)]


def test_limits_table_is_complete_enough():
    assert len(LIMIT_ROWS) >= 18
    assert ("name", 200) in LIMIT_ROWS and ("description", 5000) in LIMIT_ROWS


@pytest.mark.parametrize("path, limit", LIMIT_ROWS, ids=[p for p, _ in LIMIT_ROWS])
def test_documented_limit_is_the_real_one(path, limit):
    for n, ok in ((limit, True), (limit + 1, False)):
        doc = copy.deepcopy(BASE)
        doc.update(_nested(path, _value_of_length(path, n)))
        errors = vocab.validate(doc).errors
        if ok:
            assert errors == [], [e.message for e in errors]
        else:
            fields = {e.field for e in errors}
            assert fields & {path, path.rsplit(".", 1)[0]}, (n, fields)


def test_documented_topic_count():
    assert "at most 40 topics" in DOC
    for n, ok in ((40, True), (41, False)):
        doc = dict(BASE, knowsAbout=[f"topic {i}" for i in range(n)])
        assert vocab.validate(doc).conforms is ok


def test_document_limits_in_the_page_are_the_real_ones():
    limits = vocab.DEFAULT_LIMITS
    assert f"more than {limits.max_json_depth} levels" in DOC
    assert f"more than {limits.max_json_nodes:,} values" in DOC
    assert f"more than {limits.max_triples:,} statements" in DOC
    assert f"({limits.max_literal:,} characters)" in DOC
    assert f"longer than {limits.max_iri:,} characters" in DOC


def test_every_documented_error_code_exists():
    codes = [row[0].strip("`") for row in _table_rows("code")]
    assert len(codes) >= 10
    source = "".join(p.read_text(encoding="utf-8") for p in Path(vocab.__file__).parent.glob("*.py"))
    for code in codes:
        assert f'code="{code}"' in source, code


def test_the_python_snippet_runs(tmp_path):
    [snippet] = [b["body"] for b in BLOCKS if b["lang"] == "python"]
    profile = tmp_path / "profile.jsonld"
    profile.write_text(PROFILES[0]["body"], encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True {}"


# --------------------------------------------------------------------------- the command the page documents

def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "hubnet.node", "validate", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_hubnet_node_validate_exit_codes(tmp_path):
    good = tmp_path / "good.jsonld"
    good.write_text(PROFILES[0]["body"], encoding="utf-8")
    bad = tmp_path / "bad.jsonld"
    [latitude] = [b for b in PROFILES if b["check"].get("name") == "latitude"]
    bad.write_text(latitude["body"], encoding="utf-8")
    refused = tmp_path / "refused.jsonld"
    [block] = [b for b in CHECKED if b["check"]["kind"] == "refused"]
    refused.write_text(block["body"], encoding="utf-8")

    assert _cli(str(good), cwd=tmp_path).returncode == 0
    assert _cli(str(refused), cwd=tmp_path).returncode == 2

    (tmp_path / "profile.jsonld").write_text(latitude["body"], encoding="utf-8")
    result = _cli("profile.jsonld", cwd=tmp_path)
    assert result.returncode == 1
    [shown] = [b["body"] for b in CHECKED if b["check"]["kind"] == "cli-output"]
    assert result.stdout.strip() == shown

    result = _cli("--json", str(refused), cwd=tmp_path)
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "unsupported_context"

    result = _cli("--json", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [e["field"] for e in report["errors"]] == ["location.geo.latitude"]

"""One registry of reason codes (hubnet.vocab.errors.CODES): the code uses none that is missing there,
and docs/ lists every one (docs/crawler.md's reason-code table)."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from hubnet.vocab.errors import CODES

PACKAGE = Path(importlib.util.find_spec("hubnet").origin).parent
ROOT = Path(__file__).resolve().parents[2]
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
# Calls whose argument at this position is a reason code (_in_pipeline(self._failed, rec, code, ...)).
CODE_ARGS = {"fetch_error": 0, "refuse": 0, "_failed": 1, "Outcome": 2}


def _code_of(node) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.Constant):
        return node.values[0].value + "<status>"  # f"http_{resp.status}"
    return None


def codes_used(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            found = [k.value for k in node.keywords if k.arg == "code"]
            if name in CODE_ARGS and len(node.args) > CODE_ARGS[name]:
                found.append(node.args[CODE_ARGS[name]])
            if name == "_in_pipeline" and getattr(node.args[0], "attr", None) == "_failed":
                found.append(node.args[2])  # self._in_pipeline(self._failed, rec, code, message)
            yield from filter(None, map(_code_of, found))
        elif isinstance(node, ast.ClassDef):  # class FetchError(HubnetError): code = "fetch_failed"
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and [getattr(t, "id", None) for t in stmt.targets] == ["code"]:
                    yield from filter(None, [_code_of(stmt.value)])
        elif isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["_CODES"]:
            yield from filter(None, map(_code_of, node.value.values))  # web/errors.py: status -> code


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_code_the_code_uses_is_registered(path):
    assert not set(codes_used(path)) - set(CODES)


def test_the_scan_finds_codes():
    used = {c for p in SOURCES for c in codes_used(p)}
    assert {"blocked_address", "http_<status>", "duplicate", "fetch_failed", "rate_limited", "query_timeout"} <= used
    assert len(used) >= 50


@pytest.mark.parametrize("code", sorted(CODES))
def test_docs_list_every_code_with_its_status(code):
    status, meaning = CODES[code]
    assert re.fullmatch(r"[a-z0-9_]+|http_<status>", code) and 200 <= status < 600 and meaning
    assert re.search(rf"^\| `{re.escape(code)}` \| {status} \|", DOCS, re.M), f"docs/ do not list `{code}`"

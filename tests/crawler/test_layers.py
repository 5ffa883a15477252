"""The layers hold: checked with the ast module over the INSTALLED package, import by import.

The aggregator is laid out by side (hubnet/crawler/__init__.py): the crawl side (crawl/) and the read
side (query/) meet only through store/ and the authority rule; store/ sits below both; web/ is the only
Flask code and sits on top. Below the aggregator: vocab/ imports nothing else of hubnet, node/ never
imports the aggregator. And every import of our own code goes through the one namespace ``hubnet``.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(importlib.util.find_spec("hubnet").origin).parent

# module prefix -> prefixes it must never import
FORBIDDEN = {
    "hubnet.vocab": ("hubnet.node", "hubnet.crawler", "hubnet.testing", "flask"),
    "hubnet.node": ("hubnet.crawler", "hubnet.testing"),
    "hubnet.crawler.geo": ("hubnet.crawler.crawl", "hubnet.crawler.store", "hubnet.crawler.query",
                           "hubnet.crawler.web", "flask"),
    "hubnet.crawler.settings": ("hubnet.crawler.crawl", "hubnet.crawler.store", "hubnet.crawler.query",
                                "hubnet.crawler.web", "flask"),
    "hubnet.crawler.store": ("hubnet.crawler.crawl", "hubnet.crawler.query", "hubnet.crawler.web", "flask"),
    "hubnet.crawler.crawl": ("hubnet.crawler.query", "hubnet.crawler.web", "flask"),
    "hubnet.crawler.query": ("hubnet.crawler.crawl", "hubnet.crawler.web", "flask"),
}
OLD_ROOTS = ("vocab", "node", "crawler", "federation")


def module_name(path: Path) -> str:
    parts = ["hubnet", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, mod: str | None = None):
    """Every module a file imports, relative imports resolved; (line, module)."""
    mod = mod or module_name(path)
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            yield node.lineno, base
            for alias in node.names:  # `from hubnet.crawler import web` imports a module too
                yield node.lineno, f"{base}.{alias.name}"


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_package_is_installed_and_complete():
    names = {module_name(p) for p in SOURCES}
    assert {"hubnet", "hubnet.testing", "hubnet.vocab", "hubnet.node", "hubnet.crawler.service",
            "hubnet.crawler.crawl", "hubnet.crawler.store", "hubnet.crawler.query", "hubnet.crawler.web"} <= names


def crossings(path: Path, mod: str) -> list:
    rules = [bad for prefix, bad in FORBIDDEN.items() if mod == prefix or mod.startswith(prefix + ".")]
    return [(line, name) for line, name in imports(path, mod) for bad in rules for b in bad
            if name == b or name.startswith(b + ".")]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_import_crosses_a_layer(path):
    found = crossings(path, module_name(path))
    assert not found, f"{module_name(path)} imports across its layer: {found}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_own_code_is_imported_through_hubnet(path):
    stray = [(line, name) for line, name in imports(path) if name.split(".")[0] in OLD_ROOTS]
    assert not stray, f"{module_name(path)} imports the pre-namespace names: {stray}"


@pytest.mark.parametrize("mod, source", [
    ("hubnet.crawler.query.fake", "from hubnet.crawler.crawl.crawler import Crawler\n"),
    ("hubnet.crawler.query.fake", "from ...crawler.web import create_app\n"),
    ("hubnet.crawler.crawl.fake", "from hubnet.crawler.query import sparql\n"),
    ("hubnet.crawler.store.fake", "import hubnet.crawler.crawl.fetch\n"),
    ("hubnet.crawler.store.fake", "from flask import Flask\n"),
    ("hubnet.vocab.fake", "from hubnet import node\n"),
])
def test_the_checker_finds_a_crossing(tmp_path, mod, source):
    sample = tmp_path / "fake.py"
    sample.write_text(source)
    assert crossings(sample, mod)

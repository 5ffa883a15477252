"""`hubnet-crawler load` at its edges (issue 14): every bad file, a missing one and a store in use
give a plain message and an exit code, never a traceback, and leave what the store holds as it was."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from hubnet.crawler.cli import main
from hubnet.crawler.store.graph import Store

from server_helpers import crawler_command

GRAPH = "https://council.example.gov.uk/groups"
GOOD = b'<https://council.example.gov.uk/g/1> <http://schema.org/name> "Elm Road RA" .\n'

# (file name, bytes or None for "not there" / "a directory", extra options, exit code, words in the message)
CASES = [
    ("bad.nt", b"<a> <b> .", [], 1, "not valid N-Triples"),
    ("bin.nt", b"\xff\xfe\x00<", [], 1, "not valid N-Triples"),
    ("bad.jsonld", b'{"@id": ', [], 1, "not valid JSON"),
    ("bin.jsonld", b"\xff\xfe\x00", [], 1, "not UTF-8"),
    ("list.json", b"[1, 2", [], 1, "not valid JSON"),
    ("remote.jsonld", b'{"@context": "https://evil.example/ctx", "@id": "x"}', [], 1, "context"),
    ("bad.ttl", b"@prefix : <x", [], 1, "could not be read as RDF"),
    ("graphs.ttl", b"GRAPH <g> { <a> <b> <c> }", [], 1, ""),
    ("page.html", b"<html><p>no data here</p></html>", [], 1, "ld+json"),
    ("broken.html", b'<script type="application/ld+json">{oops</script>', [], 1, "not valid JSON"),
    ("ok.nt", GOOD, ["--format", "turtle"], 0, "loaded 1 statements"),
    ("data.xyz", GOOD, [], 1, "--format"),
    ("ok.nt", GOOD, ["--graph", "not an iri"], 1, "not an IRI"),
    ("missing.ttl", None, [], 2, "does not exist"),
    ("folder.ttl", "dir", [], 2, "is a directory"),
]


@pytest.mark.parametrize("name, content, extra, code, words", CASES, ids=[c[0] + str(c[2]) for c in CASES])
def test_load_edges_through_the_cli(tmp_path, name, content, extra, code, words):
    store_dir = tmp_path / "store"
    # Something already held, which a failed load must not touch.
    CliRunner().invoke(main, ["load", str(_write(tmp_path, "held.nt", GOOD)), "--graph", GRAPH + "/held",
                              "--store", str(store_dir)])
    path = _write(tmp_path, name, content)
    args = ["load", str(path), "--graph", GRAPH, "--store", str(store_dir)]
    if "--graph" in extra:
        args[3] = extra[1]
        extra = []
    result = CliRunner().invoke(main, args + extra)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and words in result.output, result.output
    store = Store(store_dir)
    try:
        assert len(store.graph_triples(GRAPH + "/held")) == 1
        if code:
            assert store.source(GRAPH) is None
    finally:
        store.close()


def test_load_into_a_store_in_use_says_so(tmp_path):
    path = _write(tmp_path, "ok.nt", GOOD)
    store = Store(tmp_path / "store")   # held as a running `serve` holds it
    try:
        done = subprocess.run([*crawler_command(), "load", str(path), "--graph", GRAPH,
                               "--store", str(tmp_path / "store")], capture_output=True, text=True, timeout=60)
    finally:
        store.close()
    assert done.returncode == 1, done
    assert "in use by another process" in done.stderr and "Traceback" not in done.stderr, done.stderr


def _write(tmp_path, name, content):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    return path

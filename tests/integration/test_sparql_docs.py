"""docs/query.md cannot rot: every example marked ``<!-- check: run ... -->`` runs against a live server.

Shell blocks run with bash (curl) and Python blocks with this interpreter, from the
repository root, with ``http://127.0.0.1:8080/sparql`` replaced by the live server's
address. A block must succeed and print the marker's ``expect="..."`` text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sparql_support import LiveServer, fill_store, make_app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "query.md").read_text(encoding="utf-8")
DOC_URL = "http://127.0.0.1:8080/sparql"
_BLOCK = re.compile(r'<!-- check: run(?: expect="(?P<expect>[^"]*)")? -->\n```(?P<lang>\w+)\n(?P<body>.*?)\n```', re.S)
BLOCKS = [(m.group("lang"), m.group("body"), m.group("expect")) for m in _BLOCK.finditer(DOC)]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(make_app(fill_store(tmp_path_factory.mktemp("docs")), timeout=10.0))
    yield server
    server.close()


def test_the_page_has_runnable_examples():
    assert len(BLOCKS) >= 8
    assert {lang for lang, _, _ in BLOCKS} == {"sh", "python"}


@pytest.mark.parametrize("lang, body, expect", BLOCKS, ids=[f"{i}-{b[0]}" for i, b in enumerate(BLOCKS)])
def test_example_runs(live, lang, body, expect):
    code = body.replace(DOC_URL, live.url)
    if lang == "sh":
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        cmd = ["bash", "-c", "set -euo pipefail\n" + code.replace("curl ", "curl -sS --fail-with-body ", 1)]
    else:
        cmd = [sys.executable, "-c", code]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    if expect:
        assert expect in done.stdout, done.stdout


def test_documented_limits_match_the_code():
    from hubnet.crawler.query.sparql import MAX_NESTING, MAX_QUERY_BYTES
    from hubnet.crawler.web.sparql import PAGE_EXAMPLES, init_app

    assert f"| query text | {MAX_QUERY_BYTES // 1024} KiB |" in DOC
    assert f"| {MAX_NESTING} deep |" in DOC
    assert init_app.__kwdefaults__["timeout"] == 10.0 and "| 10 s (" in DOC
    assert init_app.__kwdefaults__["row_cap"] == 10_000 and "| 10,000 |" in DOC
    for name in PAGE_EXAMPLES:
        assert f"`{name}.rq`" in DOC and (ROOT / "examples" / "queries" / f"{name}.rq").is_file()

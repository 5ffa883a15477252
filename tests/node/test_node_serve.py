"""The real ``hubnet-node serve`` (waitress) on a loopback port, read with requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from hubnet import vocab

from node_helpers import EXAMPLE, write_profile

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_serve_with_waitress_on_a_free_loopback_port(tmp_path):
    write_profile(tmp_path)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HUBNET_NODE_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "hubnet.node", "serve", "--profile", "profile.jsonld", "--port", "0"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base, seen = None, []
        deadline = time.monotonic() + 30
        while not any("editor:" in ln for ln in seen) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            match = re.search(r"public page:\s+(http://127\.0\.0\.1:\d+)/", line)
            if match:
                base = match.group(1)
        assert base, "".join(seen)

        page = requests.get(base + "/", headers={"Accept": "text/html"}, timeout=5)
        assert page.status_code == 200
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert page.headers["Server"] == "hubnet-node"
        assert "Marsh Gate Residents&#39; Association" in page.text
        assert vocab.read_document(page.content, "text/html") == vocab.read_document(EXAMPLE.read_bytes())

        data = requests.get(base + "/profile.jsonld", timeout=5)
        assert data.status_code == 200
        assert data.headers["Content-Type"] == "application/ld+json"
        assert data.content == EXAMPLE.read_bytes()
        cached = requests.get(base + "/profile.jsonld", headers={"If-None-Match": data.headers["ETag"]}, timeout=5)
        assert cached.status_code == 304
        assert "no password yet" in "".join(seen)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()

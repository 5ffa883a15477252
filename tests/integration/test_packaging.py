"""The distribution: a wheel whose only top-level package is ``hubnet``, with its data files, whose
two console scripts work from a plain (non-editable) install in a fresh virtualenv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# What pyproject.toml builds the package from (the rest of the repository is not needed).
SOURCES = ["pyproject.toml", "README.md", "__init__.py", "testing.py", "vocab", "node", "crawler", "examples/queries"]
DATA = ["hubnet/vocab/context.jsonld", "hubnet/vocab/hubnet.ttl", "hubnet/vocab/shapes.ttl",
        "hubnet/node/templates/profile.html", "hubnet/crawler/web/templates/index.html",
        "hubnet/crawler/web/static/hubnet.css", "hubnet/crawler/web/static/leaflet/leaflet.js",
        "hubnet/crawler/web/static/leaflet/images/marker-icon.png", "hubnet/crawler/web/queries/groups.rq"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "-w", str(tmp / "dist"), "--no-deps",
                          "--no-build-isolation", "-q"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    [whl] = (tmp / "dist").glob("hubnet-*.whl")
    return whl


def test_the_wheel_has_one_top_level_package_and_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"hubnet", wheel.name.split("-py")[0] + ".dist-info"}
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["hubnet"]
    for path in DATA:
        assert path in names, path
    assert not [n for n in names if "/tests/" in n or "/bench/" in n or n.endswith(".pyc")]


def test_both_commands_run_from_a_fresh_virtualenv(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    out = subprocess.run([py, "-m", "pip", "install", "-q", str(wheel)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    for script in ("hubnet-node", "hubnet-crawler"):
        run = subprocess.run([venv / "bin" / script, "--help"], capture_output=True, text=True, cwd=tmp_path,
                             timeout=120)
        assert run.returncode == 0 and run.stdout.startswith(f"Usage: {script}"), run.stdout + run.stderr
    probe = ("import hubnet, importlib.util as u; print(hubnet.__file__); "
             "print([n for n in ('vocab', 'node', 'crawler') if u.find_spec(n)])")
    where, stray = subprocess.run([py, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                                  check=True).stdout.splitlines()
    assert where.startswith(str(venv)) and "site-packages" in where
    assert stray == "[]"  # no generic top-level names installed

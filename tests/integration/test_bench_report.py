"""bench/results.md is made from files in bench/ alone, and re-measuring one section keeps the rest.

results.md = bench/report.py over results.json (measured sections, targets, run history) and
bench/notes/ (hand-written analysis and target cells). Each way of re-measuring a section
(`python -m bench --only X --update` and the tools that record with `--update`) is run through its
CLI on a copy of the committed results: every other part of results.md must stay byte-for-byte.
Nothing here judges a figure (bench/ measures speed, not tests).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import load_notes, section_run, write_report

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def _blocks(md: str) -> dict:
    """results.md by `## ` heading ("" for the header before the first one)."""
    out, key = {"": []}, ""
    for line in md.split("\n"):
        if line.startswith("## "):
            key = line
            out[key] = []
        out[key].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _target_rows(md: str) -> list:
    rows = _blocks(md)["## Targets from the issue"].split("\n")
    return [r for r in rows if r.startswith("| ") and not r.startswith("| target |")]


def test_committed_results_md_is_made_from_results_json_and_notes():
    res = json.loads((BENCH / "results.json").read_text())
    assert write_report(res, load_notes(BENCH / "notes")) == (BENCH / "results.md").read_text(), (
        "bench/results.md differs from what bench/report.py makes of results.json and bench/notes/: "
        "edit those, not the .md")


@pytest.fixture()
def results_copy(tmp_path):
    for name in ("results.json", "results.md"):
        shutil.copy(BENCH / name, tmp_path / name)
    shutil.copytree(BENCH / "notes", tmp_path / "notes")
    return tmp_path


def _corpus(tmp_path, n):
    from bench.tasks import write_corpus

    write_corpus(tmp_path / "corpus.tsv", n)
    return str(tmp_path / "corpus.tsv")


# Every way of re-measuring part of results.md, each at a tiny size: (args after `python -m`, the
# section key it records, the `## ` heading of its block, whether it replaces targets).
UPDATES = [
    (lambda t: ["bench", "--only", "areas", "--quick", "--workdir", str(t / "w")], "areas", "## Area roll-up search", False),
    (lambda t: ["bench", "--only", "search", "--quick", "--ingest-n", "300", "--workdir", str(t / "w")], "search",
     "## Directory search", True),   # the ingest runs as its setup: neither its section nor its profile is taken
    (lambda t: ["bench.search", "--store", str(t / "s"), "--n", "200", "--runs", "2"], "search", "## Directory search", True),
    (lambda t: ["bench.memory", "ingest", "--corpus", _corpus(t, 100), "--store", str(t / "m"), "--n", "100"],
     "memory_ingest", "## Memory, ingest", False),
    (lambda t: ["bench.parse_crawl", "--n", "12", "--reps", "1"], "parse_crawl", "## First crawl of 12 groups", False),
]


@pytest.mark.slow
@pytest.mark.parametrize("args,key,heading,targets", UPDATES, ids=["bench-areas", "bench-search", "bench.search", "bench.memory", "bench.parse_crawl"])
def test_update_of_one_section_keeps_every_other_part(results_copy, args, key, heading, targets):
    out = results_copy / "results.md"
    before_md, before = out.read_text(), json.loads(out.with_suffix(".json").read_text())
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", *args(results_copy), "--update", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)   # a hang guard, not a speed check
    assert proc.returncode == 0, proc.stderr[-4000:]
    after_md, after = out.read_text(), json.loads(out.with_suffix(".json").read_text())

    # results.json: only that section, its targets and one line of run history changed
    assert after["sections"][key] != before["sections"].get(key)
    assert {k: v for k, v in after["sections"].items() if k != key} == \
        {k: v for k, v in before["sections"].items() if k != key}
    assert after["profiles"] == before["profiles"]
    assert after["meta"]["updates"][:-1] == before["meta"]["updates"]
    assert after["meta"]["updates"][-1]["sections"] == [key]

    # results.md: every block but the header, the targets and the section's own is byte-for-byte the same
    old, new = _blocks(before_md), _blocks(after_md)
    mine = [h for h in new if h.startswith(heading)]
    assert len(mine) == 1, (heading, list(new))
    for h in old:
        if h not in ("", "## Targets from the issue") and not h.startswith(heading):
            assert new.get(h) == old[h], h
    assert set(new) - set(old) <= set(mine)
    # the header: the old one with one paragraph naming the re-run section added
    added = [p for p in new[""].split("\n\n") if p not in old[""].split("\n\n")]
    assert len(added) == 1 and added[0].startswith(f"Sections re-run later and replaced here: {key}, by `python -m ")
    # the targets: every row of another section's target kept, in order
    gone = {t["target"] for t in before["targets"] if t.get("section") == key} | \
        {t["target"] for t in after["targets"] if t.get("section") == key}
    kept = [r for r in _target_rows(before_md) if r.split(" | ")[0][2:] not in gone]
    assert [r for r in _target_rows(after_md) if r.split(" | ")[0][2:] not in gone] == kept
    assert bool(gone) == targets
    # the hand-written notes are all still there, each once
    for f in (results_copy / "notes").glob("*.md"):
        body = f.read_text().partition("\n")[2].strip("\n")
        assert after_md.count(body) == 1, f.name


def test_hand_written_cells_apply_to_the_run_they_were_written_for(results_copy):
    """A target note or a section note written for one run is flagged, never dropped, once that
    section is measured again; the fresh figures show."""
    res = json.loads((results_copy / "results.json").read_text())
    notes = load_notes(results_copy / "notes")
    hand = {h["target"]: h for h in notes["targets"]}
    h = hand["ingest vs bulk-loader floor"]
    assert section_run(res, "ingest") == h["run"], "the note is written for the ingest run in results.json"
    row = next(r for r in _target_rows(write_report(res, notes)) if r.startswith("| ingest vs bulk-loader floor |"))
    assert row.endswith(" | " + h["note"] + " |") and "note written for the run of" not in row
    # the ingest section measured again (a later run, other figures)
    t = next(t for t in res["targets"] if t["target"] == "ingest vs bulk-loader floor")
    t.update(value=50.0, reached=False, note="")
    res["meta"]["updates"].append({"sections": ["ingest"], "command": "python -m bench --only ingest --update",
                                   "started": "2026-12-07 00:00:00 UTC", "elapsed_s": 1.0})
    md = write_report(res, notes)
    row = next(r for r in _target_rows(md) if r.startswith("| ingest vs bulk-loader floor |"))
    assert "| 50.0 % | **not reached** |" in row
    assert f"(note written for the run of {h['run']}: {h['note']})" in row
    # a section note (areas.md is written for the areas run of 2026-12-06 07:38:28)
    res["meta"]["updates"].append({"sections": ["areas"], "command": "python -m bench --only areas --update",
                                   "started": "2026-12-07 00:00:00 UTC", "elapsed_s": 1.0})
    areas = _blocks(write_report(res, notes))["## Area roll-up search at 100,000 groups"]
    assert "*(Note written for the run of areas on 2026-12-06 07:38:28 UTC; that section has been measured again" \
        in areas


@pytest.mark.parametrize("head,problem", [
    ("Some text without a header", "the first line must be"),
    ("<!-- after: nowhere -->", "'nowhere' is not one of"),
    ("<!-- section: areas -->", "None is not one of"),
])
def test_a_note_without_its_place_is_refused_by_name(tmp_path, head, problem):
    (tmp_path / "bad.md").write_text(f"{head}\nbody\n")
    with pytest.raises(ValueError, match=problem) as exc:
        load_notes(tmp_path)
    assert "bad.md" in str(exc.value)


@pytest.mark.parametrize("extra,problem", [
    ([], "--only without --update would replace bench/results.md"),   # the committed results, all but one dropped
    (["--update", "--out", "{tmp}/none.md"], "none.json does not exist"),
])
def test_a_run_that_would_lose_sections_is_refused_before_it_starts(tmp_path, extra, problem):
    before = (BENCH / "results.md").read_bytes(), (BENCH / "results.json").read_bytes()
    args = [a.format(tmp=tmp_path) for a in extra]
    proc = subprocess.run([sys.executable, "-m", "bench", "--only", "areas", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and problem in proc.stderr, proc.stderr[-2000:]
    assert ((BENCH / "results.md").read_bytes(), (BENCH / "results.json").read_bytes()) == before
    assert not (tmp_path / "none.md").exists()

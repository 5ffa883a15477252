"""results.json (+ the hand-written notes beside it) -> results.md.

Every part of results.md comes from a file: the measured sections, targets and run history from
results.json (written by ``python -m bench`` and the tools that record into it with ``--update``),
the hand-written analysis from ``notes/`` beside it (see ``load_notes``). So re-running one section
rewrites that section and leaves every other part of the file as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

# The measured sections, in the order results.md shows them; a note is placed after any of them.
ORDER = ("crawl", "recrawl", "ingest", "queries", "endpoints", "search", "areas", "brokering", "polite",
         "sparql_load", "parse_crawl", "memory_ingest", "memory_serve", "memory_models")
SLOTS = ("targets", *ORDER, "end")


def fmt(v, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float):
        a = abs(v)
        if a >= 100:
            return f"{v:,.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 0.1:
            return f"{v:.2f}"
        if a == 0:
            return "0"
        return f"{v:.3f}"
    return str(v)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(r: dict) -> str:
    if r.get("value") is None:
        return "—"
    s = fmt(r["value"]) + (f" {r['unit']}" if r.get("unit") else "")
    if r.get("range"):
        lo, hi = r["range"]
        s += f" [{fmt(lo)}–{fmt(hi)}]"
    return s


def _reached(t: dict) -> str:
    if t["reached"] is True:
        return "**reached**"
    if t["reached"] is False:
        return "**not reached**"
    return "not judged" if t["value"] is not None else "not measured"


def load_notes(folder) -> dict:
    """The hand-written parts of results.md, kept in ``folder`` (``bench/notes/``).

    ``*.md``: markdown placed as written, each file starting with one header line
    ``<!-- after: SLOT[; section: KEY; run: STARTED] -->``: SLOT is ``targets``, a section key
    (``ORDER``) or ``end``; files at one slot in name order. With ``section`` and ``run`` (the
    ``started`` stamp of the run of that section the note discusses) the note is flagged as written
    for an earlier run once that section is measured again. ``targets.json``: ``{"targets": [...]}``,
    hand-written cells of the targets table by target name (see ``_targets``).
    """
    folder = Path(folder)
    notes = {"slots": {}, "targets": []}
    if not folder.is_dir():
        return notes
    for f in sorted(folder.glob("*.md")):
        head, _, body = f.read_text().partition("\n")
        if not (head.startswith("<!--") and head.endswith("-->")):
            raise ValueError(f"{f}: the first line must be <!-- after: SLOT[; section: KEY; run: STARTED] -->")
        meta = dict(part.split(":", 1) for part in head[4:-3].split(";") if part.strip())
        meta = {k.strip(): v.strip() for k, v in meta.items()}
        if meta.get("after") not in SLOTS:
            raise ValueError(f"{f}: after: {meta.get('after')!r} is not one of {', '.join(SLOTS)}")
        notes["slots"].setdefault(meta["after"], []).append((meta, body.strip("\n")))
    if (folder / "targets.json").exists():
        notes["targets"] = json.loads((folder / "targets.json").read_text())["targets"]
    return notes


def section_run(res: dict, key: str | None) -> str:
    """The ``started`` stamp of the run that measured section ``key`` (the last update naming it)."""
    started = res["meta"]["started"]
    for u in res["meta"].get("updates", []):
        if key in u.get("sections", ()):
            started = u["started"]
    return started


def _targets(res: dict, hand: list) -> list:
    """The measured targets with their hand-written cells applied, and the hand-only targets.

    A hand entry names its target and the run it was written for (``run``: the ``started`` of the
    target's section). It replaces that target's ``note`` (and ``value``, ``unit``, ``result`` when
    given) while the section still holds that run; once the section is measured again the fresh
    figures show, followed by the entry's note marked as written for the earlier run. An entry
    whose target no run measured is a target of its own (``goal``, ``value``, ``unit``, ``result``,
    ``note``), placed after the target named by ``after``.
    """
    out = [dict(t) for t in res["targets"]]
    by_name = {t["target"]: t for t in out}
    for h in hand:
        t = by_name.get(h["target"])
        if t is None:
            t = {"target": h["target"], "goal": h.get("goal", "—"), "value": h.get("value"), "unit": h.get("unit", ""),
                 "reached": None, "note": h.get("note", ""), "result": h.get("result")}
            at = next((i + 1 for i, o in enumerate(out) if o["target"] == h.get("after")), len(out))
            out.insert(at, t)
        elif section_run(res, t.get("section")) == h.get("run"):
            t.update({k: h[k] for k in ("value", "unit", "result", "note") if k in h})
        elif h.get("note"):
            t["note"] = (t.get("note") or "") + f" (note written for the run of {h.get('run')}: {h['note']})"
    return out


def _slot(w, res: dict, notes: dict, slot: str) -> None:
    for meta, body in notes["slots"].get(slot, []):
        if meta.get("section") and section_run(res, meta["section"]) != meta.get("run"):
            w(f"*(Note written for the run of {meta['section']} on {meta.get('run')}; that section has been "
              f"measured again since: its figures above are newer than this note.)*")
            w("")
        w(body)
        w("")


def write_report(res: dict, notes: dict | None = None) -> str:
    notes = notes or {"slots": {}, "targets": []}
    m = res["meta"]
    mach, ver = m["machine"], m["versions"]
    srv = res.get("server") or {}
    out = []
    w = out.append
    w("# hubnet benchmarks: results")
    w("")
    w(f"Generated by `{m['command']}` on {m['started']} in {m['elapsed_s']} s"
      + (" — **quick mode: tiny sizes, a smoke test; do not read the numbers as performance**" if m["quick"] else "")
      + (f"; load average (1 min) {m['load'][0]:.1f} at the start, {m['load'][-1]:.1f} at the end"
         if len(m.get("load") or []) > 1 else "")
      + ". Regenerate with `make bench` (see `bench/README.md`).")
    for u in m.get("updates", []):
        w("")
        if "text" in u:   # a hand-written line of the run history (e.g. a part measured by a script)
            w(u["text"])
            continue
        w(f"Sections re-run later and replaced here: {', '.join(u['sections'])}, by `{u['command']}` on "
          f"{u['started']} in {u['elapsed_s']} s (the other sections are from the run above)"
          + (f"; load average (1 min) {u['load'][0]:.1f} at the start, {u['load'][1]:.1f} at the end, on a "
             f"machine shared with other work" if u.get("load") else "") + ".")
    w("")
    w(f"Machine: {mach['nproc']} CPUs ({mach['cpu_model']}), {mach['ram_gib']} GiB RAM, {mach['os']}, "
      f"kernel {mach['kernel']}. Versions: Python {ver['python']}, pyoxigraph {ver['pyoxigraph']}, "
      f"rdflib {ver['rdflib']}, aiohttp {ver['aiohttp']}, requests {ver['requests']}, Flask {ver.get('flask')}"
      + (f"; static server {srv.get('kind')} {srv.get('version') or ''}".rstrip() if srv else "") + ".")
    w("")
    w("Every figure is measured in this one run, against baselines measured in the same run on the same "
      "machine. This VM is noisy (±20–40 % between identical runs, see shared/research/perf-detail.md): "
      "read ratios, and treat differences under ~1.5× as noise.")
    w("")

    # ---- headline ratios
    secs = res["sections"]
    w("## Headline ratios")
    w("")
    w("| ratio | value |")
    w("|---|---:|")
    for key, metric in (("crawl", "ratio: first crawl / fetch-only floor"), ("crawl", "ratio: first crawl / naive stack"),
                        ("recrawl", "re-crawl: time / first crawl"), ("recrawl", "re-crawl: 304 share (crawler's view)"),
                        ("polite", "polite, distinct hosts: vs first crawl (delay 0)")):
        for r in secs.get(key, {}).get("rows", []):
            if r["metric"] == metric:
                w(f"| {_cell(metric)} | {_value(r)} |")
    for r in secs.get("queries", {}).get("rows", []):
        if "rdflib / Oxigraph" in r["metric"]:
            w(f"| {_cell(r['metric'])} (p50; rdflib slower by) | {_value(r)} |")
    w("")

    # ---- targets
    w("## Targets from the issue")
    w("")
    w("| target | goal | measured | result | note |")
    w("|---|---|---:|---|---|")
    targets = _targets(res, notes["targets"])
    for t in targets:
        val = fmt(t["value"]) + (f" {t['unit']}" if t.get("unit") and t["value"] is not None else "")
        w(f"| {_cell(t['target'])} | {_cell(t['goal'])} | {val} | {t.get('result') or _reached(t)} "
          f"| {_cell(t.get('note', ''))} |")
    if not targets:
        w("| (no section with a target ran) | | | | |")
    w("")
    _slot(w, res, notes, "targets")

    # ---- federation
    fed = res.get("federation")
    if fed:
        w("## The federation")
        w("")
        w(f"{fed['groups']:,} synthetic groups (`bench/federation.py`, fixed seed), each on its own host "
          f"`gNNNNN.bench.test:{fed['port']}` mapped to 127.0.0.1 with `Settings.resolve` (the crawler's "
          f"`--resolve`), served by one {srv.get('kind', '?')} keyed by the Host header, with strong ETags. "
          f"Profiles: hubnet context by reference, mean {fed['mean_bytes']:,} B "
          f"(first 2,000: {fed['min_bytes_first2000']:,}–{fed['max_bytes_first2000']:,} B), "
          f"{fed['links']} links each on average (a 4-ary `member`/`memberOf` tree plus random "
          f"`linkedTo`/`vouchesFor`, 2–5 in all), {fed['depth_from_seed']} links deep from the one seed.")
        w("")
    crawl = secs.get("crawl")
    if crawl:
        s = crawl["settings"]
        w(f"Crawl settings: `allow_private=True`, `resolve` for every host, `per_host_delay={s['per_host_delay']}` "
          f"(every host is distinct and gets one profile request, so a delay would only idle the workers; "
          f"the politeness section measures the default), `obey_robots={s['obey_robots']}` (each host answers "
          f"robots.txt with 404, so every host costs two requests), `concurrency={s['concurrency']}`, "
          f"`max_depth={s['max_depth']}` (the federation is {fed['depth_from_seed'] if fed else '?'} deep; the "
          f"default is 5), `max_sources={s['max_sources']:,}`, `retries={s['retries']}`. Store: on disk (`Store(path)`).")
        w("")

    # ---- sections
    for key in ORDER:
        sec = secs.get(key)
        if not sec:
            _slot(w, res, notes, key)
            continue
        w(f"## {sec['title']}")
        w("")
        w("| metric | value | note |")
        w("|---|---:|---|")
        for r in sec["rows"]:
            if r.get("value") is None:
                w(f"| {_cell(r['metric'])} | — | {_cell(r.get('not_measured', 'not measured'))} |")
            else:
                w(f"| {_cell(r['metric'])} | {_value(r)} | {_cell(r.get('note', ''))} |")
        w("")
        if key == "queries":
            w("Queries (`bench/tasks.py: queries_for`): **topic_bbox** groups with a topic (`schema:knowsAbout`) "
              "whose `location/geo` falls in a lat/long box; **two_hop** groups two links away from one group over "
              "any link property; **count_per_topic** `GROUP BY` topic over every group; **one_group** "
              "`CONSTRUCT` of one group's graph. p50/p95 over ≥ 20 runs after one warm-up; the texts cycle "
              "over 4 topics / 10 groups. The Oxigraph stores are on disk, written by `parse_source` + "
              "`Store.replace_source` (the crawler's own path); rdflib is a `Dataset(default_union=True)` "
              "filled by rdflib's JSON-LD parser with the context inlined.")
            w("")
        _slot(w, res, notes, key)

    # ---- profiles
    profs = res.get("profiles") or {}
    if profs:
        w("## Where the time goes (targets not reached)")
        w("")
        if "crawl" in profs:
            p = profs["crawl"]
            w(f"### First crawl under cProfile ({p['sources']:,} sources, {p['wall_s']:.1f} s wall, "
              f"{p['cpu_s']:.1f} CPU s)")
            w("")
            w(f"The pipeline thread (parse + authorise + store, one source at a time) was busy "
              f"{p['pipeline_busy_s']:.1f} s of {p['wall_s']:.1f} s wall "
              f"({p['pipeline_busy_s'] / p['wall_s'] * 100:.0f} %, {p['pipeline_calls']:,} steps; profiled times "
              f"are inflated by cProfile).")
            w("")
            w("Pipeline thread, by own time:")
            w("```")
            w(p["pipeline_tottime"])
            w("```")
            w("Pipeline thread, cumulative:")
            w("```")
            w(p["pipeline_cumulative"])
            w("```")
            w("Event-loop thread, by own time (`epoll.poll` is the loop waiting):")
            w("```")
            w(p["event_loop_tottime"])
            w("```")
            w("")
        for key in ("crawl", "crawl_nochecks"):
            p = profs.get(key)
            if p and p.get("pipeline_shares"):
                w(f"### Pipeline thread, measured shares (first crawl of {p['sources']:,} sources under cProfile"
                  f"{p.get('label', '')})")
                w("")
                w(f"Cumulative time of each step over the pipeline thread's profiled time "
                  f"({p['pipeline_profiled_s']:.1f} s; the thread was busy {p['pipeline_busy_s']:.1f} s of "
                  f"{p['wall_s']:.1f} s wall). The event-loop thread (fetching) ran "
                  f"{p['loop_shares']['busy_s']:.1f} s and waited in epoll {p['loop_shares']['epoll_wait_s']:.1f} s.")
                w("")
                w("| step | s | share |")
                w("|---|---:|---:|")
                for label, cum, share in p["pipeline_shares"]:
                    w(f"| {label} | {fmt(cum)} | {share * 100:.1f} % |")
                w("")
        if "crawl_nochecks" in profs:
            p = profs["crawl_nochecks"]
            w(f"### First crawl under cProfile, profile checks off ({p['sources']:,} sources, {p['wall_s']:.1f} s wall)")
            w("")
            w("Pipeline thread, cumulative:")
            w("```")
            w(p["pipeline_cumulative"])
            w("```")
            w("Event-loop thread, by own time:")
            w("```")
            w(p["event_loop_tottime"])
            w("```")
            w("")
        if "recrawl" in profs:
            p = profs["recrawl"]
            w(f"### Re-crawl under cProfile ({p['sources']:,} sources, {p['wall_s']:.1f} s wall)")
            w("")
            w(f"Pipeline thread busy {p['pipeline_busy_s']:.1f} s ({p['pipeline_calls']:,} steps).")
            w("```")
            w(p["pipeline_cumulative"])
            w("```")
            w("Event-loop thread, by own time:")
            w("```")
            w(p["event_loop_tottime"])
            w("```")
            w("")
        if "ingest" in profs:
            p = profs["ingest"]
            w(f"### Ingest under cProfile ({p['docs']:,} documents, {p['wall_s']:.1f} s wall; "
              f"parse {p['parse_s']:.1f} s, store {p['write_s']:.1f} s)")
            w("")
            w("By own time:")
            w("```")
            w(p["tottime"])
            w("```")
            w("Cumulative:")
            w("```")
            w(p["cumulative"])
            w("```")
            w("")
    obs = observations(res)
    if obs:
        w("## Observations (computed from this run)")
        w("")
        for o in obs:
            w(f"- {o}")
        w("")
    for note in res.get("notes", []):
        w(f"Note: {note}")
        w("")
    _slot(w, res, notes, "end")
    return "\n".join(out).rstrip() + "\n"


def _find(res, section, prefix):
    for r in res["sections"].get(section, {}).get("rows", []):
        if r["metric"].startswith(prefix):
            return r.get("value")
    return None


def observations(res: dict) -> list:
    """Plain statements backed by this run's numbers (no judgement beyond the arithmetic)."""
    out = []
    secs = res["sections"]
    crawl = secs.get("crawl")
    if crawl:
        raw = crawl["raw"]
        c_cpu = sorted(c["cpu_s"] / max(1, c["profiles"]) * 1000 for c in raw["crawls"])[len(raw["crawls"]) // 2]
        f_cpu = sorted(f["cpu_s"] / max(1, f["profiles"]) * 1000 for f in raw["floors"])[len(raw["floors"]) // 2]
        c_wall = sorted(c["wall_s"] for c in raw["crawls"])[len(raw["crawls"]) // 2]
        c_cores = sorted(c["cpu_s"] / c["wall_s"] for c in raw["crawls"])[len(raw["crawls"]) // 2]
        out.append(f"The first crawl costs {c_cpu:.2f} ms of crawler CPU per profile against {f_cpu:.2f} ms for "
                   f"fetching alone, and keeps {c_cores:.2f} cores busy on a {res['meta']['machine']['nproc']}-core "
                   f"machine: it is CPU-bound in one process ({c_wall:.1f} s for {res['meta']['n']:,} profiles).")
        prof = res.get("profiles", {}).get("crawl")
        if prof:
            out.append(f"Under cProfile the pipeline thread (parse, authorise, store; one source at a time) was busy "
                       f"{prof['pipeline_busy_s'] / prof['wall_s'] * 100:.0f} % of the crawl's wall time: the crawl "
                       f"rate is the pipeline's rate.")
        ing = secs.get("ingest")
        if ing:
            r = ing["raw"]
            out.append(f"Per document in the ingest: parse_source {r['parse_s'] / r['docs'] * 1000:.2f} ms, "
                       f"Store.replace_source {r['write_s'] / r['docs'] * 1000:.2f} ms; the 1,500 docs/s target "
                       f"allows 0.67 ms for both.")
        lost = _find(res, "crawl", "diagnostic, soft limit of 1,024 open files: sources lost")
        if lost is not None:
            peak = max(c["peak_open_fds"] for c in raw["crawls"])
            out.append(f"The first crawl held at most {peak:,} open descriptors for {res['meta']['n']:,} hosts. "
                       f"Under `ulimit -n 1024` the first 3,000 sources lost {lost:,.0f}"
                       + (" (reasons in the crawl section)." if lost else "."))
    pol = secs.get("polite")
    if pol:
        d = _find(res, "polite", "polite, distinct hosts: profiles/s")
        bound = _find(res, "polite", "polite, distinct hosts: bound")
        if d and bound:
            out.append(f"With the default 1 s per-host delay, distinct hosts crawl at {d:.1f} profiles/s, "
                       f"{d / bound * 100:.0f} % of concurrency / delay = {bound:.0f}/s: each host's profile "
                       f"request waits the delay after its robots.txt request, and the worker waits with it.")
    q = secs.get("queries")
    if q:
        full = q["raw"]["results"].get("oxigraph_full/topic_bbox")
        if full and full.get("p50_per_text_ms"):
            k = max(range(len(full["p50_per_text_ms"])), key=lambda j: full["p50_per_text_ms"][j])
            out.append(f"topic_bbox at {q['raw']['n']:,} groups depends on the topic's popularity: the slowest "
                       f"topic ({full['rows_per_text'][k]:,} rows) takes {full['p50_per_text_ms'][k]:.0f} ms p50, "
                       f"the fastest {min(full['p50_per_text_ms']):.1f} ms.")
    return out

"""The editor's rules on each crawled profile, old engine against new, per document, in one run (issue 18).

``python -m bench.checks [--n 300] [--reps 5]``: the bench federation's first ``n`` profiles
(every second one with one of the editor's rules broken: the bench's own profiles are clean), each
checked by

- **pyshacl** (the old engine, now the oracle test's reference): the body read into an rdflib Graph
  (``vocab.load``), pyshacl's results over it, worded by the same code (``validate.judge``), plus
  the JSON-level and authority checks: what ``checks.profile_problems`` cost before;
- **rdflib Graph + evaluator**: the same Graph, judged by ``vocab.shacl_subset`` (what it would cost
  had the evaluator kept rdflib's Graph);
- **evaluator, from the body**: ``checks.profile_problems`` on the body (``hubnet-node validate``,
  the editor, export and ``hubnet-crawler import`` cost the same, ``vocab.validate``);
- **evaluator, from parse_source's rows**: ``checks.profile_problems(..., rows=parsed.rows)``, as the
  crawl runs it (the parse itself is the crawl's anyway and not counted);
- and ``parse_source`` alone, for scale.

CPU time of this process (``time.process_time``) per document, each engine over all documents in
turn, ``reps`` rounds interleaved so that all see the same load; the median round and the spread
(min-max). Before timing, every document's problems are checked to be the same from all four.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter

from bench.federation import Federation
from hubnet import vocab
from hubnet.crawler.crawl import checks
from hubnet.crawler.crawl.extract import parse_source
from hubnet.crawler.settings import Settings
from hubnet.vocab.shacl_subset import Data, Result, to_ox
from hubnet.vocab.validate import check_published_at, check_url_strings, judge, shapes, validate_data

KIND = "application/ld+json"


def pyshacl_engine(graph):
    from pyshacl import validate
    from rdflib.namespace import RDF, SH

    def engine(_data):
        _ok, results, _text = validate(graph, shacl_graph=shapes(), inference="none", allow_warnings=True,
                                       advanced=False)
        out = []
        for r in results.subjects(RDF.type, SH.ValidationResult):
            path, value = results.value(r, SH.resultPath), results.value(r, SH.value)
            out.append(Result(to_ox(results.value(r, SH.focusNode)), None if path is None else str(path),
                              None if value is None else to_ox(value), results.value(r, SH.sourceShape),
                              str(results.value(r, SH.resultSeverity)), str(results.value(r, SH.resultMessage))))
        return out
    return engine


def _words(report, document, url) -> list:
    """What profile_problems keeps of a report (the JSON-level and authority checks added)."""
    known = {i.field for i in report.errors}
    issues = sorted(report.issues + [i for i in check_url_strings(document) if i.field not in known],
                    key=lambda i: (i.severity != "violation", i.field))
    return [(i.severity, i.field, i.message) for i in issues]


def with_pyshacl(body: bytes, url: str) -> list:
    document = vocab.read_document(body, KIND)
    graph = vocab.load(document, base_iri=url)
    data = Data.from_graph(graph)
    report = judge(data, pyshacl_engine(graph))
    report.issues = check_published_at(data, url) + report.issues
    return _words(report, document, url)


def with_graph(body: bytes, url: str) -> list:
    document = vocab.read_document(body, KIND)
    data = Data.from_graph(vocab.load(document, base_iri=url))
    report = validate_data(data)
    report.issues = check_published_at(data, url) + report.issues
    return _words(report, document, url)


# One broken field each (the second profile, the fourth...): something for the rules to say.
BREAKS = [("name", ""), ("email", "not an email"), ("url", "our website"), ("foundingDate", "in 1998"),
          ("knowsAbout", ["x" * 101]), ("location", {"@type": "Place", "geo": {"latitude": 515, "longitude": "east"}}),
          ("makesOffer", [{"@type": "Offer", "name": "", "category": "bogus"}]), ("indexing", "no")]


def profile_body(fed: Federation, i: int) -> bytes:
    if i % 2 == 0:
        return fed.body(i)
    doc = fed.profile(i)
    field, value = BREAKS[(i // 2) % len(BREAKS)]
    doc[field] = value
    return json.dumps(doc).encode("utf-8")


def _problems(text) -> list:
    return [(p["severity"], p["field"], p["message"]) for p in checks.problem_list(text)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.checks", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="profiles (bench/federation.py), default 300")
    ap.add_argument("--reps", type=int, default=5, help="rounds, interleaved (default 5)")
    a = ap.parse_args(argv)
    fed = Federation(a.n)
    settings = Settings()
    docs = [(profile_body(fed, i), fed.doc_url(i)) for i in range(a.n)]
    rows = [parse_source(body, KIND, url, settings).rows for body, url in docs]

    def as_problems(words):
        return [("error" if s == "violation" else "warning", f, m) for s, f, m in words]

    for (body, url), r in zip(docs, rows):   # the same answers first
        new = _problems(checks.profile_problems(body, KIND, url, settings))
        assert _problems(checks.profile_problems(body, KIND, url, settings, r)) == new, url
        assert as_problems(with_graph(body, url)) == new, url
        assert as_problems(with_pyshacl(body, url)) == new, url
    found = Counter(p[0] for body, url in docs for p in _problems(checks.profile_problems(body, KIND, url, settings)))

    engines = {
        "pyshacl (old engine: rdflib Graph + pyshacl)": lambda i: with_pyshacl(*docs[i]),
        "rdflib Graph + evaluator": lambda i: with_graph(*docs[i]),
        "evaluator, from the body (vocab.validate)": lambda i: checks.profile_problems(docs[i][0], KIND,
                                                                                       docs[i][1], settings),
        "evaluator, from parse_source's rows (the crawl)": lambda i: checks.profile_problems(
            docs[i][0], KIND, docs[i][1], settings, rows[i]),
        "parse_source alone (for scale)": lambda i: parse_source(docs[i][0], KIND, docs[i][1], settings),
    }
    times: dict = {name: [] for name in engines}
    for _ in range(a.reps):
        for name, run in engines.items():
            t0 = time.process_time()
            for i in range(a.n):
                run(i)
            times[name].append((time.process_time() - t0) / a.n * 1000)
    old = statistics.median(times[next(iter(engines))])
    print(f"{a.n} bench profiles, {a.reps} interleaved rounds; problems found: {dict(found) or 'none'} "
          "(the same from every engine)\n")
    print("| check of one profile | CPU ms/doc, median | min-max | old / this |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {min(ts):.3f}-{max(ts):.3f} | {old / med:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

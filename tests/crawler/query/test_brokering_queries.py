"""The documented SPARQL queries in examples/queries/ give the brokering answers on the known federation."""

from __future__ import annotations

from pathlib import Path

from hubnet.crawler.query.sparql import evaluate

QUERIES = Path(__file__).resolve().parents[3] / "examples" / "queries"


def run(store, name, **iris):
    text = (QUERIES / name).read_text()
    for placeholder, iri in iris.items():
        text = text.replace(f"<http://{placeholder}.example/#group>", f"<{iri}>")
    kind, (variables, rows), truncated = evaluate(store, text)
    return [{v: (t.value if t is not None else None) for v, t in zip(variables, row)} for row in rows]


def test_every_example_query_runs(world):
    store, _ = world
    for path in sorted(QUERIES.glob("*.rq")):
        text = path.read_text()
        assert text.lstrip().startswith("#"), f"{path.name} must start with a comment saying its question"
        evaluate(store, text)


def test_needs_and_offers_query(world):
    rows = run(world[0], "needs-and-offers.rq")
    pairs = {(r["need"], r["offer"]) for r in rows}
    assert ("Room on Tuesdays", "Church hall") in pairs
    assert ("Room on Tuesdays", "Old room") not in pairs      # expired
    assert ("Room on Tuesdays", "Our own room") not in pairs  # same group
    assert ("Volunteers for Saturday", "Saturday volunteers") in pairs


def test_mutual_links_query(world):
    store, i = world
    rows = {(r["from"], r["to"]): r["mutual"] for r in run(store, "mutual-links.rq")}
    assert rows[(i["A"], i["B"])] == "true"
    assert rows[(i["U"], i["A"])] == "true"
    assert rows[(i["U"], i["B"])] == "false"


def test_who_vouches_query(world):
    store, i = world
    rows = run(store, "who-vouches.rq", alpha=i["B"], epsilon=i["E"])
    assert [r["viaName1"] for r in rows] == ["Delta Youth"]


def test_ego_and_isolated_queries(world):
    store, i = world
    ego = {r["near"]: int(r["hops"]) for r in run(store, "ego-network.rq", alpha=i["D"])}
    assert ego[i["B"]] == 1 and ego[i["E"]] == 1 and ego[i["A"]] == 2 and i["F"] not in ego
    # as /api/network/isolated: no mutual link (C and G are only claimed by others)
    assert {r["group"] for r in run(store, "isolated-groups.rq")} == {i["C"], i["F"], i["G"]}


def test_sole_connectors_query(world):
    store, i = world
    got = {r["connector"] for r in run(store, "sole-connectors.rq")}
    # U hangs only off A, E only off D (mutual links): both connectors are among the network's bridges
    assert got == {i["A"], i["D"]}


def test_contacts_query(world):
    store, i = world
    rows = run(store, "contacts-by-topic.rq")
    assert [(r["group"], r["topic"], r["contactEmail"], r["contactPhone"]) for r in rows] == [
        (i["G"], "food poverty", "coordinator@g.test", "020 7946 0999")]

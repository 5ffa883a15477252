"""Unpublish and publish again is one group (issue 14): through a real node and a real aggregator.

The hub first reads the group at / (as links name it); the node's pings name /profile.jsonld.
Withdrawing must show as that one source gone, publishing again must bring the same source
back (first seen kept), and no second source or false "gone" entry may be left behind.
"""

from __future__ import annotations

import pytest

from loop_helpers import free_ports, group_names, run, sources, start, stop, wait_for

pytestmark = pytest.mark.slow
PASSWORD = "a long enough editor password"


def test_unpublish_then_publish_is_one_source_with_its_first_seen(tmp_path):
    node_port, hub_port = free_ports(2)
    site, hub = f"http://127.0.0.1:{node_port}/", f"http://127.0.0.1:{hub_port}"
    run(["hubnet-node", "init", "--non-interactive", "--name", "Elm Road Residents", "--url", site,
         "--email", "hello@elmroad.example", "--hub", hub, "--geocoder", "off"], tmp_path)
    run(["hubnet-node", "passwd"], tmp_path, f"{PASSWORD}\n{PASSWORD}\n")
    servers = [start(["hubnet-node", "serve", "--port", str(node_port)], tmp_path, node_port)]
    try:
        run(["hubnet-crawler", "crawl", site, "--allow-private", "--store", "hub"], tmp_path)
        servers.append(start(["hubnet-crawler", "serve", "--port", str(hub_port), "--allow-private",
                              "--store", "hub", "--recrawl-interval", "off"], tmp_path, hub_port))
        (first,) = sources(hub)
        assert (first["url"], first["status"]) == (site, "ok")

        run(["hubnet-node", "unpublish"], tmp_path)   # tells the hub: a ping for /profile.jsonld
        wait_for(lambda: group_names(hub) == [], "the withdrawal on the hub")
        (gone,) = sources(hub)
        assert (gone["url"], gone["status"]) == (site, "gone")

        run(["hubnet-node", "publish"], tmp_path)
        wait_for(lambda: group_names(hub) == ["Elm Road Residents"], "the group back on the hub")
        (back,) = sources(hub)   # one source: no second one at /profile.jsonld, no false "gone"
        assert (back["url"], back["status"]) == (site, "ok")
        assert back["first_seen"] == first["first_seen"]
    finally:
        stop(servers)

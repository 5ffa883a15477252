"""/export/openreferral.json: the directory as an Open Referral UK (HSDS 3.0) page of services."""

from __future__ import annotations

import uuid

from server_helpers import CRAWLED_GROUPS

PAGE_KEYS = {"contents", "total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty"}


def _uuid(value) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except (TypeError, ValueError):
        return False


def test_the_export_is_one_hsds_page_with_a_service_per_group(network):
    resp = network.client.get("/export/openreferral.json")
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    page = resp.get_json()
    assert set(page) == PAGE_KEYS
    total = network.client.get("/api/groups?limit=1000").get_json()["total"]
    assert total == CRAWLED_GROUPS
    assert (page["total_items"], page["size"], len(page["contents"])) == (total, total, total)
    assert (page["page_number"], page["total_pages"], page["first_page"], page["last_page"], page["empty"]) == \
        (1, 1, True, True, False)
    for s in page["contents"]:
        org = s["organization"]
        assert s["status"] == "active" and s["name"] and s["organization_id"] == org["id"]
        assert all(_uuid(x) for x in (s["id"], org["id"]))
        assert org["name"] == s["name"] and org["description"] and org["uri"].endswith("/#group")
        for sal in s["service_at_locations"]:
            loc = sal["location"]
            assert sal["service_id"] == s["id"] and sal["location_id"] == loc["id"] and _uuid(loc["id"])
            assert loc["location_type"] == "physical" and -90 <= loc["latitude"] <= 90
        assert all(a["service_id"] == s["id"] and _uuid(a["id"]) and a["name"] for a in s["service_areas"])
    by_name = {s["name"]: s for s in page["contents"]}
    park = by_name["Friends of Marsh Park"]
    assert park["service_at_locations"][0]["location"]["latitude"] == 51.5650
    assert [a["name"] for a in park["service_areas"]] == ["Leyton ward"]
    assert by_name["Leyton Youth Club"]["service_at_locations"] == []       # gives no coordinates
    ids = [x for s in page["contents"] for x in (s["id"], s["organization_id"])]
    assert len(ids) == len(set(ids))
    # The same group keeps its ids from one export to the next.
    assert network.client.get("/export/openreferral.json").get_json() == page

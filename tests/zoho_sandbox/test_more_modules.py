"""The sandbox's five later modules speak Zoho's spec: paths, list and record keys, summaries, bare details,
edits, creation, deletion and webhooks under the module key."""

from __future__ import annotations

import pytest

from tests.zoho_sandbox.conftest import Receiver, Zoho
from zoho_sandbox.data import parse_time

# entity → (list path, list key, detail key or None for a bare detail, id field, detail-only child list)
MODULES = {
    "inventory-adjustments": ("/inventory/v1/inventoryadjustments", "inventory_adjustments", "inventory_adjustment",
                              "inventory_adjustment_id", "line_items"),
    "transfer-orders": ("/inventory/v1/transferorders", "transfer_orders", "transfer_order", "transfer_order_id",
                        "line_items"),
    "composite-items": ("/inventory/v1/compositeitems", "composite_items", None, "composite_item_id", "mapped_items"),
    "item-groups": ("/inventory/v1/itemgroups", "itemgroups", None, "group_id", None),
    "vendor-credits": ("/books/v3/vendorcredits", "vendorcredits", "vendor_credit", "vendor_credit_id", "line_items"),
}
WEBHOOK_KEYS = {"inventory-adjustments": "inventory_adjustment", "transfer-orders": "transfer_order",
                "composite-items": "composite_item", "item-groups": "itemgroup", "vendor-credits": "vendor_credit"}
by_module = pytest.mark.parametrize("entity", list(MODULES))


def detail(zoho: Zoho, entity: str, zoho_id: str) -> dict:
    path, _list_key, detail_key, _id_field, _children = MODULES[entity]
    body = zoho.ok(f"{path}/{zoho_id}")
    if detail_key is None:
        return {k: v for k, v in body.items() if k not in ("code", "message")}
    return body[detail_key]


@by_module
def test_lists_are_summaries_of_the_details_under_the_specs_keys(zoho: Zoho, entity: str) -> None:
    path, list_key, _detail_key, id_field, child = MODULES[entity]
    rows = zoho.all_rows(path, list_key)
    assert len(rows) == len(zoho.records(entity)) >= 3
    for row in rows[:5]:
        full = detail(zoho, entity, row[id_field])
        assert all(full[k] == v for k, v in row.items())  # a summary is a projection of the detail
        if child:
            assert child not in row and full[child] and all(line["item_id"] for line in full[child])
        assert parse_time(full["last_modified_time"]) >= parse_time(full["created_time"])


def test_composite_items_and_item_groups_answer_their_detail_without_envelope(zoho: Zoho) -> None:
    composite = zoho.records("composite-items")[0]
    body = zoho.ok(f"/inventory/v1/compositeitems/{composite['composite_item_id']}")
    assert body["composite_item_id"] == composite["composite_item_id"] and "composite_item" not in body
    group = zoho.records("item-groups")[0]
    assert zoho.ok(f"/inventory/v1/itemgroups/{group['group_id']}")["group_id"] == group["group_id"]
    assert zoho.get("/inventory/v1/compositeitems/2646610000999999999").status_code == 404


def test_vendor_credits_carry_the_accountants_fields(zoho: Zoho) -> None:
    credits = [detail(zoho, "vendor-credits", r["vendor_credit_id"]) for r in zoho.records("vendor-credits")]
    assert all(isinstance(c["is_inclusive_tax"], bool) and c["vendor_id"] for c in credits)
    assert all(line["location_id"] and line["location_name"] for c in credits for line in c["line_items"])
    assert all(float(c["total"]) == pytest.approx(float(c["sub_total"]) - float(c["discount_amount"]))
               for c in credits)


@by_module
def test_touch_create_and_delete_work_and_fire_the_module_key(zoho: Zoho, receiver: Receiver, entity: str) -> None:
    path, list_key, _detail_key, id_field, _child = MODULES[entity]
    before = zoho.records(entity)[0]
    after = zoho.control("POST", f"/records/{entity}/{before[id_field]}/touch", json={"webhook": True}).json()
    assert parse_time(after["record"]["last_modified_time"]) > parse_time(before["last_modified_time"])
    assert detail(zoho, entity, before[id_field]) == after["record"]
    [hit] = receiver.all()
    assert hit.path == f"/api/zoho/webhooks/{entity}" and hit.signature_ok
    assert hit.json == {WEBHOOK_KEYS[entity]: after["record"]}

    created = zoho.control("POST", f"/records/{entity}", json={"record": {}}).json()["record"]
    assert created[id_field] in {r[id_field] for r in zoho.all_rows(path, list_key)}
    zoho.control("DELETE", f"/records/{entity}/{created[id_field]}")
    assert zoho.get(f"{path}/{created[id_field]}").status_code == 404

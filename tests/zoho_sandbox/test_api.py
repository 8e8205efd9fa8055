"""The Books v3 / Inventory v1 subset: auth, organisation, envelopes, paging, filters, sorting, details, images."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.zoho_sandbox.conftest import ORG_ID, Zoho
from zoho_sandbox.data import parse_time

DOCUMENTS = [
    ("/books/v3/invoices", "invoices", "invoice", "invoice_id"),
    ("/books/v3/bills", "bills", "bill", "bill_id"),
    ("/books/v3/creditnotes", "creditnotes", "creditnote", "creditnote_id"),
    ("/books/v3/salesorders", "salesorders", "salesorder", "salesorder_id"),
    ("/books/v3/purchaseorders", "purchaseorders", "purchaseorder", "purchaseorder_id"),
]
DETAILS = DOCUMENTS + [
    ("/inventory/v1/items", "items", "item", "item_id"),
    ("/books/v3/contacts", "contacts", "contact", "contact_id"),
    ("/books/v3/customerpayments", "customerpayments", "payment", "payment_id"),
    ("/books/v3/vendorpayments", "vendorpayments", "vendorpayment", "payment_id"),
    ("/inventory/v1/pricebooks", "pricebooks", "pricebook", "pricebook_id"),
    ("/inventory/v1/locations", "locations", "location", "location_id"),
    ("/inventory/v1/invoices", "invoices", "invoice", "invoice_id"),
    ("/inventory/v1/bills", "bills", "bill", "bill_id"),
]


@pytest.mark.parametrize("auth", [None, "", "Bearer {token}", "Zoho-oauthtoken not-a-token", "Zoho-oauthtoken"])
def test_calls_without_a_valid_zoho_oauthtoken_are_401_code_57(zoho: Zoho, auth: str | None) -> None:
    token = zoho.login()
    header = "" if auth is None else auth.format(token=token)
    response = zoho.get("/books/v3/invoices", auth=header)
    assert response.status_code == 401
    assert response.json() == {"code": 57, "message": "You are not authorized to perform this operation"}
    assert zoho.stats()["api_calls"] == 0


@pytest.mark.parametrize("org", [None, "", "123456"])
def test_missing_or_wrong_organization_id_is_400_code_6041(zoho: Zoho, org: str | None) -> None:
    params = {} if org is None else {"organization_id": org}
    response = zoho.get("/inventory/v1/items", params, org=None)
    assert response.status_code == 400
    assert response.json()["code"] == 6041


def test_unknown_url_is_404_code_5(zoho: Zoho) -> None:
    for path in ("/books/v3/nothing", "/inventory/v1/items/1/2/3", "/elsewhere"):
        response = zoho.get(path)
        assert response.status_code == 404
        assert response.json() == {"code": 5, "message": "Invalid URL Passed"}


def test_list_envelope_and_page_context(zoho: Zoho) -> None:
    body = zoho.ok("/books/v3/contacts", {"per_page": 10})
    assert set(body) == {"code", "message", "contacts", "page_context"}
    ctx = body["page_context"]
    assert ctx["page"] == 1 and ctx["per_page"] == 10 and ctx["has_more_page"] is True
    assert {"sort_column", "sort_order"} <= set(ctx)


def test_per_page_is_capped_at_200(zoho: Zoho) -> None:
    body = zoho.ok("/inventory/v1/items", {"per_page": 1000})
    assert body["page_context"]["per_page"] == 200
    assert len(body["items"]) == 200
    assert body["page_context"]["has_more_page"] is True
    default = zoho.ok("/inventory/v1/items")
    assert default["page_context"]["per_page"] == 200 and len(default["items"]) == 200


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_bad_paging_values_are_rejected(zoho: Zoho, bad: str) -> None:
    response = zoho.get("/inventory/v1/items", {"page": bad})
    assert response.status_code == 400 and response.json()["code"] == 2


@pytest.mark.parametrize("per_page", [7, 50, 200])
def test_paging_never_skips_or_repeats(zoho: Zoho, per_page: int) -> None:
    rows = zoho.all_rows("/inventory/v1/items", "items", per_page=per_page)
    ids = [r["item_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == {r["item_id"] for r in zoho.records("products")}


def test_paging_sorted_by_last_modified_time_is_stable(zoho: Zoho) -> None:
    params = {"sort_column": "last_modified_time", "sort_order": "D"}
    rows = zoho.all_rows("/books/v3/contacts", "contacts", params, per_page=33)
    ids = [r["contact_id"] for r in rows]
    both = sum(1 for r in rows if r["contact_type"] == "both")  # in both views, listed once
    assert len(ids) == len(set(ids)) == len(zoho.records("customers")) + len(zoho.records("vendors")) - both
    stamps = [parse_time(r["last_modified_time"]) for r in rows]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    "path,key",
    [("/inventory/v1/items", "items"), ("/books/v3/invoices", "invoices"), ("/books/v3/contacts", "contacts")],
)
def test_sorting_ascending_by_modified_and_created_time(zoho: Zoho, path: str, key: str) -> None:
    for column in ("last_modified_time", "created_time"):
        rows = zoho.all_rows(path, key, {"sort_column": column, "sort_order": "A"})
        stamps = [parse_time(r[column]) for r in rows]
        assert stamps == sorted(stamps)


def _cutoff(records: list[dict]) -> int:
    stamps = sorted(parse_time(r["last_modified_time"]) for r in records)
    return stamps[len(stamps) * 2 // 3]


@pytest.mark.parametrize("fmt", ["%Y-%m-%dT%H:%M:%S+0300", "%Y-%m-%dT%H:%M:%S+03:00", "utc-z", "space-for-plus"])
def test_last_modified_time_returns_records_modified_at_or_after(zoho: Zoho, fmt: str) -> None:
    records = zoho.records("invoices")
    cutoff = _cutoff(records)
    expected = {r["invoice_id"] for r in records if parse_time(r["last_modified_time"]) >= cutoff}
    local = dt.datetime.fromtimestamp(cutoff, dt.timezone(dt.timedelta(hours=3)))
    if fmt == "utc-z":
        value = dt.datetime.fromtimestamp(cutoff, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    elif fmt == "space-for-plus":  # a client that forgot to encode "+"
        value = local.strftime("%Y-%m-%dT%H:%M:%S 0300")
    else:
        value = local.strftime(fmt)
    rows = zoho.all_rows("/books/v3/invoices", "invoices", {"last_modified_time": value})
    assert {r["invoice_id"] for r in rows} == expected
    assert 0 < len(expected) < len(records)


def test_invalid_last_modified_time_is_rejected(zoho: Zoho) -> None:
    response = zoho.get("/books/v3/invoices", {"last_modified_time": "yesterday"})
    assert response.status_code == 400 and response.json()["code"] == 2


def test_inventory_bills_ignores_every_filter_but_paging(zoho: Zoho) -> None:
    future = {
        "last_modified_time": "2099-01-01T00:00:00+0300",
        "status": "paid",
        "sort_column": "total",
        "sort_order": "D",
    }
    books = zoho.ok("/books/v3/bills", future)
    assert books["bills"] == []
    everything = zoho.all_rows("/inventory/v1/bills", "bills", future, per_page=7)
    assert len(everything) == len(zoho.records("bills"))
    ids = [b["bill_id"] for b in everything]
    assert ids == sorted(ids, key=lambda i: (len(i), i))


def test_contact_type_and_status_filters(zoho: Zoho) -> None:
    vendors = zoho.all_rows("/books/v3/contacts", "contacts", {"contact_type": "vendor"})
    assert vendors and all(c["contact_type"] in ("vendor", "both") for c in vendors)
    assert len(vendors) == len(zoho.records("vendors"))
    both = [c for c in vendors if c["contact_type"] == "both"]  # a vendor that also buys: listed as a customer too
    customers = {c["contact_id"] for c in zoho.all_rows("/books/v3/contacts", "contacts", {"contact_type": "customer"})}
    assert both and {c["contact_id"] for c in both} <= customers
    inactive = zoho.all_rows("/inventory/v1/items", "items", {"filter_by": "Status.Inactive"})
    assert all(i["status"] == "inactive" for i in inactive)
    active = zoho.all_rows("/inventory/v1/items", "items", {"filter_by": "Status.Active"})
    assert len(active) + len(inactive) == len(zoho.records("products"))
    paid = zoho.all_rows("/books/v3/invoices", "invoices", {"status": "paid"})
    assert paid and all(i["status"] == "paid" for i in paid)


@pytest.mark.parametrize("path,list_key,detail_key,id_field", DOCUMENTS)
def test_documents_list_rows_are_summaries_and_details_carry_line_items(
    zoho: Zoho, path: str, list_key: str, detail_key: str, id_field: str
) -> None:
    rows = zoho.ok(path, {"per_page": 5})[list_key]
    assert rows and all("line_items" not in r for r in rows)
    for row in rows:
        detail = zoho.ok(f"{path}/{row[id_field]}")[detail_key]
        assert detail[id_field] == row[id_field]
        assert 1 <= len(detail["line_items"]) <= 7
        for key, value in row.items():  # a summary is a projection of the detail
            assert detail[key] == value, key
        line = detail["line_items"][0]
        assert {
            "line_item_id",
            "item_id",
            "name",
            "sku",
            "quantity",
            "rate",
            "discount",
            "tax_percentage",
            "item_total",
            "unit",
        } <= set(line)
        assert detail["sub_total"] == pytest.approx(sum(float(li["item_total"]) for li in detail["line_items"]))


@pytest.mark.parametrize("path,list_key,detail_key,id_field", DETAILS)
def test_detail_of_a_missing_record_is_404_code_1002(
    zoho: Zoho, path: str, list_key: str, detail_key: str, id_field: str
) -> None:
    response = zoho.get(f"{path}/2646610000999999999")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 1002 and body["message"].endswith("does not exist.")
    first = zoho.ok(path, {"per_page": 1})[list_key][0]
    assert zoho.ok(f"{path}/{first[id_field]}")[detail_key][id_field] == first[id_field]


def test_items_carry_locations_and_price_book_rates(zoho: Zoho) -> None:
    items = zoho.all_rows("/inventory/v1/items", "items")
    books = {
        b["pricebook_id"]: zoho.ok(f"/inventory/v1/pricebooks/{b['pricebook_id']}")["pricebook"]
        for b in zoho.ok("/inventory/v1/pricebooks")["pricebooks"]
    }
    assert {b["name"] for b in books.values()} >= {"Consumer Price List", "Wholesale Price List"}
    rates = {(pbi["item_id"], pid): pbi["pricebook_rate"] for pid, b in books.items() for pbi in b["pricebook_items"]}
    goods = [i for i in items if i["product_type"] == "goods"]
    for item in goods:
        assert len(item["locations"]) == 3
        loc = item["locations"][0]
        assert {
            "location_id",
            "location_name",
            "status",
            "is_primary",
            "location_stock_on_hand",
            "location_available_stock",
            "location_actual_available_stock",
            "location_committed_stock",
            "location_available_for_sale_stock",
        } <= set(loc)
        assert item["stock_on_hand"] == sum(x["location_stock_on_hand"] for x in item["locations"])
        for entry in item["pricebook_rates"]:
            assert rates[(item["item_id"], entry["pricebook_id"])] == entry["pricebook_rate"]
            assert entry["pricebook_name"] == books[entry["pricebook_id"]]["name"]
    services = [i for i in items if i["product_type"] == "service"]
    assert all(i["stock_on_hand"] == "" for i in services)


def test_price_book_detail_has_items_with_discounts_and_brackets(zoho: Zoho) -> None:
    books = zoho.ok("/inventory/v1/pricebooks")["pricebooks"]
    assert len(books) == 4 and all("pricebook_items" not in b for b in books)
    assert {b["pricebook_type"] for b in books} == {"per_item", "fixed_percentage"}
    entries = [
        e
        for b in books
        for e in zoho.ok(f"/inventory/v1/pricebooks/{b['pricebook_id']}")["pricebook"]["pricebook_items"]
    ]
    discounts = {e["pricebook_discount"] for e in entries}
    assert "" in discounts and any(d.endswith("%") for d in discounts) and any(d and d[-1].isdigit() for d in discounts)
    bracketed = [e for e in entries if e["price_brackets"]]
    assert bracketed
    assert {"start_quantity", "end_quantity", "pricebook_rate", "pricebook_discount"} <= set(
        bracketed[0]["price_brackets"][0]
    )


def test_legacy_warehouses_view(zoho: Zoho) -> None:
    locations = zoho.ok("/inventory/v1/locations")["locations"]
    warehouses = zoho.ok("/inventory/v1/settings/warehouses")["warehouses"]
    assert [w["warehouse_id"] for w in warehouses] == [loc["location_id"] for loc in locations]
    assert zoho.ok(f"/inventory/v1/warehouses/{warehouses[0]['warehouse_id']}")["warehouse"]["warehouse_name"]
    item = zoho.ok("/inventory/v1/items", {"per_page": 1})["items"][0]
    assert "locations" in item and "warehouses" not in item
    zoho.configure(legacy_warehouses=True)
    item = zoho.ok(f"/inventory/v1/items/{item['item_id']}")["item"]
    assert "locations" not in item and len(item["warehouses"]) == 3
    assert {"warehouse_id", "warehouse_name", "warehouse_stock_on_hand", "warehouse_available_stock"} <= set(
        item["warehouses"][0]
    )


def test_itemdetails_returns_full_records_for_up_to_100_ids(zoho: Zoho) -> None:
    rows = zoho.ok("/inventory/v1/items", {"per_page": 5})["items"]
    ids = [r["item_id"] for r in rows]
    body = zoho.ok("/inventory/v1/itemdetails", {"item_ids": ",".join(ids)})
    assert [i["item_id"] for i in body["items"]] == ids
    assert body["items"][0] == zoho.ok(f"/inventory/v1/items/{ids[0]}")["item"]
    too_many = ",".join(str(2646610000000000000 + n) for n in range(101))
    assert zoho.get("/inventory/v1/itemdetails", {"item_ids": too_many}).status_code == 400


def test_item_images_are_deterministic_real_files(zoho: Zoho) -> None:
    items = zoho.records("products")
    with_image = [i for i in items if i["image_name"]]
    without = [i for i in items if not i["image_name"]]
    assert with_image and without
    seen: dict[bytes, str] = {}
    for item in with_image[:12]:
        response = zoho.get(f"/inventory/v1/items/{item['item_id']}/image")
        assert response.status_code == 200
        expected_type = "image/png" if item["image_type"] == "png" else "image/jpeg"
        assert response.headers["Content-Type"] == expected_type
        magic = b"\x89PNG" if expected_type == "image/png" else b"\xff\xd8"
        assert response.content.startswith(magic)
        assert zoho.get(f"/inventory/v1/items/{item['item_id']}/image").content == response.content
        assert response.content not in seen
        seen[response.content] = item["item_id"]
    missing = zoho.get(f"/inventory/v1/items/{without[0]['item_id']}/image")
    assert missing.status_code == 404 and missing.json()["code"] == 1002


def test_some_items_share_identical_image_bytes(zoho: Zoho) -> None:
    items = [i for i in zoho.records("products") if i["image_name"]]
    by_name: dict[str, list[str]] = {}
    for item in items:
        by_name.setdefault(item["image_name"], []).append(item["item_id"])
    shared = [ids for ids in by_name.values() if len(ids) > 1]
    assert shared
    a, b = (zoho.get(f"/inventory/v1/items/{item_id}/image") for item_id in shared[0][:2])
    assert a.status_code == b.status_code == 200  # two pictures, not two equal 404 bodies
    assert a.content == b.content


def test_inventory_and_books_twins_serve_the_same_records(zoho: Zoho) -> None:
    for coll in ("contacts", "invoices", "salesorders", "purchaseorders", "creditnotes", "customerpayments"):
        books = zoho.ok(f"/books/v3/{coll}", {"per_page": 20})[coll]
        inventory = zoho.ok(f"/inventory/v1/{coll}", {"per_page": 20})[coll]
        assert books == inventory


def test_organizations_endpoint(zoho: Zoho) -> None:
    body = zoho.get("/books/v3/organizations", org=None).json()
    assert body["organizations"][0]["organization_id"] == ORG_ID


def test_responses_are_utf8_json_with_arabic_unescaped(zoho: Zoho) -> None:
    response = zoho.get("/inventory/v1/items", {"per_page": 50})
    assert response.headers["Content-Type"].startswith("application/json")
    assert "cf_name_ar" in response.text
    assert any("\u0600" <= ch <= "\u06ff" for ch in response.text)

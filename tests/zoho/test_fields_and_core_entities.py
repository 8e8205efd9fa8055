"""Zoho quirks read leniently, and the product / customer / vendor transformers as pure functions."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from zoho.entities import entity_names, get_entity
from zoho.errors import MappingError
from zoho.fields import custom_field, nul_path, to_date, to_datetime, to_decimal, to_zoho_id
from zoho.mapper import TransformContext

PLUS3 = dt.timezone(dt.timedelta(hours=3))


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2025-11-04T21:52:11+0300", dt.datetime(2025, 11, 4, 21, 52, 11, tzinfo=PLUS3)),
        ("2025-11-04T21:52:11+03:00", dt.datetime(2025, 11, 4, 21, 52, 11, tzinfo=PLUS3)),
        ("2015-05-29 00:00:00+00:00", dt.datetime(2015, 5, 29, tzinfo=dt.timezone.utc)),
        ("2025-11-04", dt.datetime(2025, 11, 4, tzinfo=dt.timezone.utc)),
        ("2026-09-04T00:00:00.000Z", dt.datetime(2026, 9, 4, tzinfo=dt.timezone.utc)),
        ("", None),
        (None, None),
    ],
)
def test_every_zoho_timestamp_form_parses_to_an_aware_datetime(raw, expected):
    assert to_datetime(raw) == expected


def test_dates_keep_the_calendar_day_and_empty_is_null():
    assert to_date("2025-11-04") == dt.date(2025, 11, 4)
    assert to_date("2025-11-04T23:30:00+0300") == dt.date(2025, 11, 4)
    assert to_date("") is None


@pytest.mark.parametrize("raw, expected", [("", None), (None, None), (29.36, Decimal("29.36")), ("1,250.50", Decimal("1250.50")),
                                           ("10%", Decimal("10")), (6, Decimal(6)), ("0", Decimal(0))])
def test_numbers_are_decimal_and_empty_strings_are_null(raw, expected):
    assert to_decimal(raw) == expected


def test_garbage_numbers_and_non_finite_values_are_refused():
    for bad in ("abc", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            to_decimal(bad)


def test_zoho_ids_are_text_even_when_sent_as_json_numbers():
    assert to_zoho_id(2646610000000113826) == "2646610000000113826"
    assert to_zoho_id("2646610000000113826") == "2646610000000113826"


def test_custom_fields_are_read_from_the_hash_or_the_list():
    assert custom_field({"custom_field_hash": {"cf_name_ar": "اسم"}}, "cf_name_ar") == "اسم"
    listed = {"custom_fields": [{"customfield_id": "1", "label": "Name AR", "api_name": "cf_name_ar", "value": "اسم"}]}
    assert custom_field(listed, "cf_name_ar") == "اسم"
    assert custom_field({}, "cf_name_ar") is None


def _values(entity, record, **ctx):
    records = get_entity(entity).to_records(record, TransformContext(entity, **ctx))
    return records[0].values


def test_product_prices_are_decimal_with_pricebook_rates_and_arabic_fallbacks():
    record = {
        "item_id": "2646610000000113826", "name": "Elvang Teddy bear Beige", "description": "Soft toy",
        "rate": 29.36, "purchase_rate": "", "unit": "pcs", "brand": "Elvang", "sku": "1060", "status": "active",
        "last_modified_time": "2025-06-08T21:18:35+0100", "rate_formatted": "$29.36", "unknown_field": {"x": 1},
        "pricebook_rates": [
            {"pricebook_id": "1", "pricebook_name": "Consumer Price List", "pricebook_rate": 31.5},
            {"pricebook_id": "2", "pricebook_name": "wholesale price list", "pricebook_rate": "25"},
        ],
    }
    v = _values("products", record)
    assert v["unit_price"] == Decimal("29.36") and v["cost_price"] is None
    assert v["consumer_price"] == Decimal("31.5") and v["wholesale_price"] == Decimal("25")
    assert v["name_ar"] == "Elvang Teddy bear Beige" and v["description_ar"] == "Soft toy"
    assert v["zoho_last_modified_at"] == dt.datetime(2025, 6, 8, 20, 18, 35, tzinfo=dt.timezone.utc)


def test_product_without_pricebook_rates_leaves_configured_prices_untouched():
    v = _values("products", {"item_id": "1", "name": "x"})
    assert "consumer_price" not in v and "wholesale_price" not in v


def test_product_with_a_differently_named_consumer_book_uses_the_configured_name():
    record = {"item_id": "1", "pricebook_rates": [{"pricebook_name": "Retail IQD", "pricebook_rate": 5}]}
    assert _values("products", record, consumer_pricebook="Retail IQD")["consumer_price"] == Decimal(5)


def test_inactive_zoho_items_are_inactive_and_available_stock_sums_locations_when_absent():
    record = {"item_id": "1", "status": "inactive", "locations": [
        {"location_id": "a", "location_available_stock": "4"}, {"location_id": "b", "location_available_stock": ""},
        {"location_id": "c", "location_available_stock": 2.5}]}
    v = _values("products", record)
    assert v["is_active"] is False and v["available_stock"] == Decimal("6.5")


def test_a_malformed_product_value_leaves_its_column_out_with_a_shape_warning_and_the_rest_lands():
    ctx = TransformContext(entity="products")
    (rec,) = get_entity("products").to_records({"item_id": "1", "name": "Bag", "rate": "twelve",
                                               "purchase_rate": {"amount": 3}}, ctx)
    assert "unit_price" not in rec.values and "cost_price" not in rec.values
    assert rec.values["name"] == "Bag" and rec.values["raw"]["rate"] == "twelve"
    assert sorted(ctx.warnings) == ["purchase_rate", "rate"]


def test_an_unreadable_version_is_still_a_mapping_error():
    with pytest.raises(MappingError, match="last_modified_time"):
        _values("products", {"item_id": "1", "last_modified_time": "yesterday-ish"})


def test_customer_maps_contact_fields_addresses_and_arabic_name_from_custom_field():
    record = {
        "contact_id": "3646610000000001", "contact_name": "Al-Noor Trading", "company_name": "Al-Noor LLC",
        "contact_type": "customer", "email": "info@alnoor.iq", "phone": "+964-7700000000", "mobile": "",
        "currency_code": "IQD", "payment_terms": 15, "payment_terms_label": "Net 15", "credit_limit": "5000000",
        "outstanding_receivable_amount": 1250.5, "status": "active",
        "billing_address": {"address": "Karrada St", "city": "Baghdad", "zipcode": "10001", "country": "Iraq"},
        "custom_fields": [{"api_name": "cf_name_ar", "value": "النور للتجارة"}],
        "last_modified_time": "2025-11-06T10:00:00+0300",
    }
    v = _values("customers", record)
    assert v["name"] == "Al-Noor Trading" and v["name_ar"] == "النور للتجارة"
    assert v["credit_limit"] == Decimal("5000000") and v["outstanding_receivable"] == Decimal("1250.5")
    assert v["billing_city"] == "Baghdad" and v["billing_zip"] == "10001" and v["mobile"] is None
    assert v["payment_terms"] == 15 and v["is_active"] is True


def test_vendor_keeps_payables():
    v = _values("vendors", {"contact_id": "9", "vendor_name": "Supplier", "outstanding_payable_amount": "12.50"})
    assert v["name"] == "Supplier" and v["outstanding_payable"] == Decimal("12.50")


def test_the_registry_exposes_routes_queues_and_task_names_per_entity():
    for name in entity_names():
        e = get_entity(name)
        assert e.queue == f"sync.{name}" and e.task_name == f"sync.{name}.process"
    assert {"products", "customers", "vendors"} <= set(entity_names())


def test_a_thin_list_row_never_blanks_columns_it_does_not_carry():
    v = _values("products", {"item_id": "1", "rate": 5, "last_modified_time": "2025-11-04T10:00:00+0300"})
    assert set(v) == {"zoho_item_id", "unit_price", "zoho_last_modified_at", "raw"}
    c = _values("customers", {"contact_id": "2", "email": ""})
    assert c["email"] is None and "billing_city" not in c and "name" not in c and "is_active" not in c


def test_arabic_name_falls_back_to_the_plain_name_when_the_record_has_custom_fields_but_no_arabic():
    v = _values("products", {"item_id": "1", "name": "Bag", "custom_fields": []})
    assert v["name_ar"] == "Bag"


@pytest.mark.parametrize("document, where", [
    ("clean", None), ("a\x00b", "$"), ({"name": "ok", "tags": ["x", 1, None]}, None),
    ({"name": "a\x00"}, ".name"), ({"k\x00": "v"}, ".k\x00"),
    ({"item": {"custom_fields": [{"label": "x"}, {"value": "\x00"}]}}, ".item.custom_fields[1].value"),
    ([["ok"], ["ok", "\x00"]], "[1][1]"),
])
def test_nul_path_names_the_first_nul_anywhere_and_none_for_a_clean_document(document, where):
    assert nul_path(document) == where

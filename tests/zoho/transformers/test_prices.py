"""Price books: items keyed by product, `"10"` vs `"10%"` discounts, brackets, consumer/wholesale prices on products."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from models.erp import PriceList, PriceListItem, Product
from tests.zoho.transformers.support import PLUS3, detail, list_row, one, rows, sync

UTC = dt.timezone.utc
SPIGEN, LENOVO, SWITCH = "2646610000000113826", "2646610000000080274", "2646610000000081978"


def _book(name: str | None = None, **changes):
    book = detail("prices_detail", "pricebook")
    if name is not None:
        book["name"] = name
    book.update(changes)
    return {"pricebook": book}


def _items() -> dict[str, PriceListItem]:
    return {i.zoho_item_id: i for i in rows(PriceListItem)}


def test_price_book_detail_lands_column_by_column(db):
    sync("prices", _book())

    book = one(PriceList)
    assert book.zoho_pricebook_id == "2646610000000080036"
    assert book.name == "Consumer Price List"
    assert book.description == "Retail prices for walk-in customers"
    assert book.currency_code == "IQD"
    assert book.pricebook_type == "per_item" and book.pricing_scheme == "unit"
    assert book.sales_or_purchase_type == "sales"
    assert book.percentage is None  # ""
    assert book.is_increase is False and book.is_default is False
    assert book.decimal_place == 0 and book.rounding_type == "no_rounding"
    assert book.status == "active" and book.is_active is True
    assert book.zoho_last_modified_at == dt.datetime(2025, 11, 1, 8, 30, tzinfo=PLUS3)

    items = _items()
    assert set(items) == {SPIGEN, LENOVO, SWITCH}
    spigen = items[SPIGEN]
    assert spigen.price_list_id == book.id
    assert spigen.zoho_pricebook_item_id == "2646610000054858555"
    assert (spigen.name, spigen.sku) == ("Spigen Phone Case Galaxy A55 SP6064", "MOB-SPI-00001")
    assert spigen.pricebook_rate == Decimal("55000") and isinstance(spigen.pricebook_rate, Decimal)
    assert spigen.product_id == one(Product, zoho_item_id=SPIGEN).id  # placeholder product


def test_discount_ten_is_an_amount_and_ten_percent_a_percentage(db):
    sync("prices", _book())
    items = _items()
    assert (items[SPIGEN].discount, items[SPIGEN].discount_is_percent) == (Decimal(10), False)  # "10"
    assert (items[LENOVO].discount, items[LENOVO].discount_is_percent) == (Decimal(10), True)  # "10%"
    assert (items[SWITCH].discount, items[SWITCH].discount_is_percent) == (None, None)  # ""


def test_volume_brackets_are_kept_as_json(db):
    sync("prices", _book())
    items = _items()
    brackets = items[SWITCH].price_brackets
    assert items[SWITCH].pricing_scheme == "volume"
    assert [b["start_quantity"] for b in brackets] == [1, 10, 50]
    assert brackets[2] == {"start_quantity": 50, "end_quantity": "", "pricebook_rate": 269500, "pricebook_discount": "3%"}
    assert items[SPIGEN].price_brackets == []


def test_consumer_price_book_fills_products_consumer_price_only(db):
    sync("prices", _book())
    products = {p.zoho_item_id: p for p in rows(Product)}
    assert products[SPIGEN].consumer_price == Decimal(55000)
    assert products[LENOVO].consumer_price == Decimal(44250)
    assert products[SWITCH].consumer_price == Decimal(286750)
    assert all(p.wholesale_price is None for p in products.values())


def test_wholesale_book_name_matches_case_insensitively(db):
    sync("prices", _book("  WHOLESALE price list ", pricebook_id="2646610000000080037"))
    products = {p.zoho_item_id: p for p in rows(Product)}
    assert products[LENOVO].wholesale_price == Decimal(44250)
    assert products[LENOVO].consumer_price is None


def test_configured_price_book_names_come_from_the_context(db):
    sync("prices", _book("Retail IQD"), consumer_pricebook="retail iqd")
    assert one(Product, zoho_item_id=SPIGEN).consumer_price == Decimal(55000)


def test_other_price_books_do_not_touch_product_prices(db):
    sync("products", {"item": {"item_id": SPIGEN, "name": "Spigen", "last_modified_time": "2025-11-01T08:00:00+0300"}})
    sync("prices", _book("Technicians Price List"))
    product = one(Product, zoho_item_id=SPIGEN)
    assert product.consumer_price is None and product.wholesale_price is None
    assert product.name == "Spigen"
    assert _items()[SPIGEN].product_id == product.id


def test_list_row_lands_the_book_and_keeps_its_items(db):
    sync("prices", _book())
    first = {z: i.id for z, i in _items().items()}
    row = list_row("prices_list_row", "pricebooks")
    row["pricebook_id"] = "2646610000000080036"
    row["name"] = "Consumer Price List"
    row["last_modified_time"] = "2025-11-02"
    sync("prices", {"pricebook": row})

    assert {z: i.id for z, i in _items().items()} == first
    book = one(PriceList)
    assert book.percentage == Decimal(10) and book.pricebook_type == "fixed_percentage"
    assert book.zoho_last_modified_at == dt.datetime(2025, 11, 2, tzinfo=UTC)  # a bare date


def test_fixed_percentage_list_row_alone_lands_without_items(db):
    sync("prices", {"pricebook": list_row("prices_list_row", "pricebooks")})
    book = one(PriceList)
    assert book.name == "Dealers 10% Markdown" and book.percentage == Decimal(10)
    assert rows(PriceListItem) == []


def test_new_version_replaces_items_keeping_the_rows_of_kept_products(db):
    sync("prices", _book())
    first = {z: i.id for z, i in _items().items()}
    book = _book(last_modified_time="2025-11-03T08:30:00+0300")
    entries = book["pricebook"]["pricebook_items"]
    entries.pop(0)  # Spigen leaves the book
    entries[0]["pricebook_rate"] = 45000
    entries[0]["pricebook_item_id"] = "2646610000054858999"  # Zoho re-numbered the entry
    entries.append({"pricebook_item_id": "2646610000054859000", "item_id": "2646610000000080619",
                    "name": "Green Lion Lightning Cable 2m", "pricebook_rate": 20750, "pricebook_discount": "2.5%"})
    sync("prices", book)

    items = _items()
    assert set(items) == {LENOVO, SWITCH, "2646610000000080619"}
    assert items[LENOVO].id == first[LENOVO] and items[LENOVO].pricebook_rate == Decimal(45000)
    assert items[LENOVO].zoho_pricebook_item_id == "2646610000054858999"
    assert items["2646610000000080619"].discount == Decimal("2.5")
    assert one(Product, zoho_item_id=LENOVO).consumer_price == Decimal(45000)


def test_older_version_and_repeats_change_nothing(db):
    sync("prices", _book())
    snapshot = [(i.id, i.pricebook_rate) for i in rows(PriceListItem)]
    old = _book(last_modified_time="2025-10-01T08:30:00+0300")
    old["pricebook"]["pricebook_items"][0]["pricebook_rate"] = 1
    assert sync("prices", old).stale == 1
    sync("prices", _book())
    assert [(i.id, i.pricebook_rate) for i in rows(PriceListItem)] == snapshot
    assert one(Product, zoho_item_id=SPIGEN).consumer_price == Decimal(55000)


def test_delete_marks_the_price_list_inactive(db):
    sync("prices", _book())
    sync("prices", {"pricebook": {"pricebook_id": "2646610000000080036"}}, operation="delete")
    book = one(PriceList)
    assert book.is_active is False
    assert len(rows(PriceListItem)) == 3

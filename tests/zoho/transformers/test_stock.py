"""Stock: one level per product × warehouse from `locations[]` or `warehouses[]`, products' totals kept equal."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from models.db import session_scope
from models.erp import Product, StockLevel, Warehouse
from tests.zoho.transformers.support import PLUS3, detail, fixture, list_row, one, rows, sync

ITEM = "2646610000000113826"
MAIN, BASRA, ERBIL = "2646610000000077024", "2646610000000080011", "2646610000000080016"


def _levels(item_id: str = ITEM) -> dict[str, StockLevel]:
    return {lvl.zoho_warehouse_id: lvl for lvl in rows(StockLevel, zoho_item_id=item_id)}


def _sums(item_id: str = ITEM) -> tuple[Decimal | None, Decimal | None]:
    with session_scope() as s:
        return s.execute(
            select(func.sum(StockLevel.available_stock), func.sum(StockLevel.stock_on_hand))
            .where(StockLevel.zoho_item_id == item_id)
        ).one()


def test_current_locations_land_one_level_per_location_column_by_column(db):
    result = sync("stock", fixture("stock_detail"))
    assert result.applied == 3

    levels = _levels()
    assert set(levels) == {MAIN, BASRA, ERBIL}
    main = levels[MAIN]
    assert main.zoho_item_id == ITEM
    assert main.stock_on_hand == Decimal(187) and isinstance(main.stock_on_hand, Decimal)
    assert main.available_stock == Decimal(187)
    assert main.actual_available_stock == Decimal(180)
    assert main.committed_stock == Decimal(7) and main.actual_committed_stock == Decimal(7)
    assert main.available_for_sale_stock == Decimal(180)
    assert main.actual_available_for_sale_stock == Decimal(180)
    assert main.is_active is True
    assert main.zoho_last_modified_at == dt.datetime(2025, 11, 4, 21, 52, 11, tzinfo=PLUS3)
    assert main.last_synced_at is not None
    assert levels[BASRA].stock_on_hand == Decimal("80.5")
    erbil = levels[ERBIL]
    assert (erbil.stock_on_hand, erbil.available_stock, erbil.committed_stock) == (None, None, None)  # ""

    # parents that had not arrived are placeholders the levels point at
    product = one(Product, zoho_item_id=ITEM)
    assert product.zoho_last_modified_at is None and product.name is None
    warehouses = {w.zoho_warehouse_id: w.id for w in rows(Warehouse)}
    assert set(warehouses) == {MAIN, BASRA, ERBIL}
    assert all(lvl.product_id == product.id for lvl in levels.values())
    assert {z: lvl.warehouse_id for z, lvl in levels.items()} == warehouses

    # products.available_stock / stock_on_hand are the sums of the levels
    assert product.available_stock == Decimal("267.5") and product.stock_on_hand == Decimal("267.5")
    assert _sums() == (product.available_stock, product.stock_on_hand)


def test_legacy_warehouses_shape_lands_the_same_way(db):
    sync("stock", fixture("stock_legacy_detail"))

    levels = _levels("2646610000000080274")
    assert set(levels) == {MAIN, BASRA}
    basra = levels[BASRA]
    assert (basra.stock_on_hand, basra.available_stock, basra.actual_available_stock) == (
        Decimal(12), Decimal(11), Decimal(11))
    assert (basra.committed_stock, basra.available_for_sale_stock) == (Decimal(1), Decimal(11))
    assert levels[MAIN].actual_available_for_sale_stock == Decimal(38)

    product = one(Product, zoho_item_id="2646610000000080274")
    assert (product.available_stock, product.stock_on_hand) == (Decimal(51), Decimal(52))
    assert _sums("2646610000000080274") == (Decimal(51), Decimal(52))


def test_list_row_quantities_sent_as_strings_read_as_decimals(db):
    sync("stock", {"item": list_row("stock_list_row", "items")})
    levels = _levels()
    assert levels[MAIN].stock_on_hand == Decimal(185) and levels[MAIN].actual_available_stock == Decimal(178)
    assert levels[ERBIL].available_stock == Decimal(4)
    assert levels[MAIN].committed_stock is None  # not in the list row


def test_same_version_with_new_quantities_applies_and_products_follow(db):
    """Zoho changes stock without moving `last_modified_time`: the same version is rewritten."""
    sync("stock", fixture("stock_detail"))
    first_ids = {z: lvl.id for z, lvl in _levels().items()}

    sync("stock", {"item": list_row("stock_list_row", "items")})  # same last_modified_time, new counts

    levels = _levels()
    assert {z: lvl.id for z, lvl in levels.items()} == first_ids
    assert levels[MAIN].available_stock == Decimal(185) and levels[ERBIL].available_stock == Decimal(4)
    product = one(Product, zoho_item_id=ITEM)
    assert product.available_stock == Decimal("269.5")
    assert _sums() == (product.available_stock, product.stock_on_hand)


def test_an_older_item_version_does_not_overwrite_levels_or_totals(db):
    sync("stock", fixture("stock_detail"))
    old = detail("stock_detail", "item")
    old["last_modified_time"] = "2025-11-01T08:00:00+0300"
    for loc in old["locations"]:
        loc["location_available_stock"] = 1

    result = sync("stock", {"item": old})

    assert (result.applied, result.stale) == (0, 3)
    assert _levels()[MAIN].available_stock == Decimal(187)
    assert one(Product, zoho_item_id=ITEM).available_stock == Decimal("267.5")


def test_applying_the_same_item_twice_leaves_the_same_rows(db):
    def snapshot():
        cols = [c.name for c in StockLevel.__table__.columns if c.name != "last_synced_at"]
        return [{c: getattr(lvl, c) for c in cols} for lvl in rows(StockLevel)], len(rows(Product)), len(rows(Warehouse))

    sync("stock", fixture("stock_detail"))
    first = snapshot()
    sync("stock", fixture("stock_detail"))
    assert snapshot() == first


def test_levels_land_on_products_and_warehouses_already_synced(db):
    sync("products", {"item": detail("stock_detail", "item")})
    sync("warehouses", fixture("warehouses_detail"))
    product = one(Product, zoho_item_id=ITEM)

    sync("stock", fixture("stock_detail"))

    assert one(Product, zoho_item_id=ITEM).id == product.id
    assert one(Product, zoho_item_id=ITEM).name == "Spigen Phone Case Galaxy A55 SP6064"
    basra = one(Warehouse, zoho_warehouse_id=BASRA)
    assert basra.name == "Basra Branch Warehouse"
    assert _levels()[BASRA].warehouse_id == basra.id
    assert len(rows(Warehouse)) == 3


def test_product_arriving_after_its_stock_fills_the_placeholder_row(db):
    sync("stock", fixture("stock_detail"))
    placeholder = one(Product, zoho_item_id=ITEM)

    sync("products", {"item": detail("stock_detail", "item")})

    product = one(Product, zoho_item_id=ITEM)
    assert product.id == placeholder.id and product.name == "Spigen Phone Case Galaxy A55 SP6064"
    assert {lvl.product_id for lvl in _levels().values()} == {product.id}
    assert product.available_stock == Decimal("267.5")


def test_service_item_with_empty_stock_lands_nulls(db):
    sync("stock", fixture("stock_service_item"))
    (level,) = rows(StockLevel)
    assert level.zoho_item_id == "2646610000000099001" and level.zoho_warehouse_id == MAIN
    assert (level.stock_on_hand, level.available_stock, level.actual_available_stock) == (None, None, None)
    product = one(Product, zoho_item_id="2646610000000099001")
    assert product.available_stock is None and product.stock_on_hand is None


def test_item_without_any_location_records_its_organisation_wide_stock_on_the_product(db):
    item = detail("stock_service_item", "item")
    item.update(locations=[], stock_on_hand=12, available_stock="9.5")
    assert sync("stock", {"item": item}).applied == 1
    assert rows(StockLevel) == []
    product = one(Product, zoho_item_id=item["item_id"])
    assert (product.stock_on_hand, product.available_stock) == (Decimal(12), Decimal("9.5"))
    assert product.zoho_last_modified_at is None  # stock alone never makes the product look synced


def test_organisation_wide_stock_does_not_overwrite_the_products_own_fields(db):
    item = detail("stock_service_item", "item")
    item.update(locations=[], stock_on_hand=3, available_stock=2)
    item.pop("warehouses", None)
    sync("products", {"item": item})
    item.update(stock_on_hand=1, available_stock=0)
    sync("stock", {"item": item})
    product = one(Product, zoho_item_id=item["item_id"])
    assert product.name == item["name"] and product.zoho_last_modified_at is not None
    assert (product.stock_on_hand, product.available_stock) == (Decimal(1), Decimal(0))


def test_flat_item_with_a_warehouse_id_is_one_level(db):
    """The older single-warehouse shape: `warehouse_id` and the quantities on the item itself."""
    sync("stock", {"item": {"item_id": "2646610000000001", "name": "Test Product 1", "stock_on_hand": 100,
                            "available_stock": 95, "warehouse_id": "2646610000000077024",
                            "warehouse_name": "Main Warehouse", "last_modified_time": "2025-11-06T10:00:00+0300"}})
    (level,) = rows(StockLevel)
    assert (level.zoho_warehouse_id, level.stock_on_hand, level.available_stock) == (MAIN, Decimal(100), Decimal(95))


def test_a_level_at_an_inactive_location_is_inactive(db):
    item = detail("stock_detail", "item")
    item["locations"][2]["status"] = "inactive"
    sync("stock", {"item": item})
    assert _levels()[ERBIL].is_active is False and _levels()[MAIN].is_active is True


def test_delete_keeps_quantities_and_marks_the_named_levels_inactive(db):
    sync("stock", fixture("stock_detail"))
    sync("stock", fixture("stock_detail"), operation="delete")

    levels = _levels()
    assert all(lvl.is_active is False for lvl in levels.values())
    assert levels[MAIN].available_stock == Decimal(187)
    # a late copy of the same version does not reactivate them
    sync("stock", fixture("stock_detail"))
    assert all(lvl.is_active is False for lvl in _levels().values())


def test_delete_carrying_only_the_id_leaves_levels_alone(db):
    sync("stock", fixture("stock_detail"))
    before = {z: (lvl.id, lvl.is_active, lvl.available_stock) for z, lvl in _levels().items()}
    assert sync("stock", {"item": {"item_id": ITEM}}, operation="delete").applied == 0
    assert {z: (lvl.id, lvl.is_active, lvl.available_stock) for z, lvl in _levels().items()} == before


def test_stock_and_products_read_the_same_items_list():
    from zoho.entities import get_entity

    assert get_entity("stock").sources == get_entity("products").sources

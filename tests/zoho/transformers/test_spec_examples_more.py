"""Zoho's own documented examples of the five later modules pass the receiver's check and the transformer,
and every spec property the ERP has a column for arrives in that column (the table below)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.zoho.transformers.more_support import children, header, land
from tests.zoho.transformers.spec_render import response_example, spec, spec_available
from zoho.entities import get_entity

pytestmark = pytest.mark.skipif(not spec_available(), reason="zoho-openapi specs not found (set ZOHO_OPENAPI_DIR)")


# spec property → ERP column, header and lines, for every property the ERP has a place for
MAPPING = {
    "inventory-adjustments": {
        "header": {
            "inventory_adjustment_id": "zoho_inventory_adjustment_id", "date": "adjustment_date",
            "reason": "reason", "reason_id": "zoho_reason_id", "description": "description",
            "reference_number": "reference_number", "adjustment_type": "adjustment_type", "status": "status",
            "location_id": "zoho_location_id", "location_name": "location_name", "total": "total",
            "custom_fields": "custom_fields", "created_time": "zoho_created_at",
            "last_modified_time": "zoho_last_modified_at",
        },
        "lines": ("line_items", {
            "line_item_id": "zoho_line_item_id", "item_id": "zoho_item_id", "name": "name",
            "description": "description", "quantity_adjusted": "quantity_adjusted",
            "value_adjusted": "value_adjusted", "item_total": "item_total", "unit": "unit",
            "adjustment_account_id": "zoho_adjustment_account_id",
            "adjustment_account_name": "adjustment_account_name", "location_id": "zoho_location_id",
            "location_name": "location_name",
        }),
    },
    "transfer-orders": {
        "header": {
            "transfer_order_id": "zoho_transfer_order_id", "transfer_order_number": "transfer_order_number",
            "date": "transfer_order_date", "description": "description", "status": "status",
            "is_intransit_order": "is_intransit_order", "from_location_id": "zoho_from_location_id",
            "from_location_name": "from_location_name", "to_location_id": "zoho_to_location_id",
            "to_location_name": "to_location_name", "custom_fields": "custom_fields",
            "created_time": "zoho_created_at", "last_modified_time": "zoho_last_modified_at",
        },
        "lines": ("line_items", {
            "line_item_id": "zoho_line_item_id", "item_id": "zoho_item_id", "name": "name",
            "description": "description", "quantity_transfer": "quantity_transfer", "unit": "unit",
        }),
    },
    "composite-items": {
        "header": {
            "composite_item_id": "zoho_composite_item_id", "name": "name", "sku": "sku", "unit": "unit",
            "description": "description", "status": "status", "combo_type": "combo_type",
            "item_type": "item_type", "product_type": "product_type", "brand": "brand",
            "manufacturer": "manufacturer", "category_id": "zoho_category_id", "category_name": "category_name",
            "rate": "unit_price", "purchase_rate": "cost_price", "tax_name": "tax_name",
            "tax_percentage": "tax_percentage", "stock_on_hand": "stock_on_hand",
            "available_stock": "available_stock", "reorder_level": "reorder_level", "ean": "ean", "upc": "upc",
            "isbn": "isbn", "part_number": "part_number", "image_name": "image_name",
            "custom_fields": "custom_fields", "created_time": "zoho_created_at",
            "last_modified_time": "zoho_last_modified_at",
        },
        "lines": ("mapped_items", {
            "line_item_id": "zoho_line_item_id", "item_id": "zoho_item_id", "item_order": "item_order",
            "name": "name", "sku": "sku", "unit": "unit", "description": "description", "quantity": "quantity",
            "rate": "rate", "purchase_rate": "purchase_rate", "is_combo_product": "is_combo_product",
        }),
    },
    "item-groups": {
        "header": {
            "group_id": "zoho_group_id", "group_name": "group_name", "description": "description",
            "brand": "brand", "manufacturer": "manufacturer", "unit": "unit", "product_type": "product_type",
            "status": "status", "is_taxable": "is_taxable", "tax_name": "tax_name",
            "tax_percentage": "tax_percentage", "attribute_name1": "attribute_name1",
            "attribute_name2": "attribute_name2", "attribute_name3": "attribute_name3",
            "image_name": "image_name", "items": "zoho_item_ids", "custom_fields": "custom_fields",
            "created_time": "zoho_created_at", "last_modified_time": "zoho_last_modified_at",
        },
        "lines": None,
    },
    "vendor-credits": {
        "header": {
            "vendor_credit_id": "zoho_vendor_credit_id", "vendor_credit_number": "vendor_credit_number",
            "date": "vendor_credit_date", "status": "status", "reference_number": "reference_number",
            "vendor_id": "zoho_vendor_id", "vendor_name": "vendor_name", "currency_code": "currency_code",
            "exchange_rate": "exchange_rate", "is_inclusive_tax": "is_inclusive_tax",
            "location_id": "zoho_location_id", "location_name": "location_name", "sub_total": "sub_total",
            "total": "total", "balance": "balance", "total_credits_used": "total_credits_used",
            "total_refunded_amount": "total_refunded_amount", "notes": "notes", "custom_fields": "custom_fields",
            "discount": "discount", "created_time": "zoho_created_at",
            "last_modified_time": "zoho_last_modified_at",
        },
        "lines": ("line_items", {
            "line_item_id": "zoho_line_item_id", "item_id": "zoho_item_id", "sku": "sku", "name": "name",
            "description": "description", "item_order": "item_order", "quantity": "quantity", "unit": "unit",
            "bcy_rate": "bcy_rate", "rate": "rate", "tax_name": "tax_name", "tax_percentage": "tax_percentage",
            "item_total": "item_total", "account_id": "zoho_account_id", "account_name": "account_name",
            "location_id": "zoho_location_id", "location_name": "location_name",
        }),
    },
}


@dataclass(frozen=True)
class Example:
    entity: str
    module: str
    method: str
    path: str
    list_key: str | None = None  # a list answer: its rows are the records

    @property
    def id(self) -> str:
        return f"{self.entity}:{self.method.upper()} {self.path}"


EXAMPLES = [
    Example("inventory-adjustments", "inventoryadjustments", "get", "/inventoryadjustments", "inventory_adjustments"),
    Example("inventory-adjustments", "inventoryadjustments", "get", "/inventoryadjustments/{inventory_adjustment_id}"),
    Example("inventory-adjustments", "inventoryadjustments", "post", "/inventoryadjustments"),
    Example("inventory-adjustments", "inventoryadjustments", "put", "/inventoryadjustments/{inventory_adjustment_id}"),
    Example("transfer-orders", "transferorders", "get", "/transferorders", "transfer_orders"),
    Example("transfer-orders", "transferorders", "get", "/transferorders/{transfer_order_id}"),
    Example("transfer-orders", "transferorders", "post", "/transferorders"),
    Example("transfer-orders", "transferorders", "put", "/transferorders/{transfer_order_id}"),
    Example("composite-items", "compositeitems", "get", "/compositeitems", "composite_items"),
    Example("composite-items", "compositeitems", "get", "/compositeitems/{composite_item_id}"),
    Example("composite-items", "compositeitems", "put", "/compositeitems/{composite_item_id}"),
    Example("item-groups", "itemgroups", "get", "/itemgroups", "itemgroups"),
    Example("item-groups", "itemgroups", "get", "/itemgroups/{itemgroup_id}"),
    Example("item-groups", "itemgroups", "put", "/itemgroups/{itemgroup_id}"),
    Example("vendor-credits", "vendor-credits", "get", "/vendorcredits", "vendorcredits"),
    Example("vendor-credits", "vendor-credits", "get", "/vendorcredits/{vendor_credit_id}"),
    Example("vendor-credits", "vendor-credits", "put", "/vendorcredits/{vendor_credit_id}"),
]


def _records(example: Example) -> list[tuple[dict, dict]]:
    """(body to land, the record inside it) for each record the documented answer holds."""
    body = response_example(example.module, example.path, example.method)
    entity = get_entity(example.entity)
    if example.list_key:
        rows = body[example.list_key]
        assert rows, example.id
        return [({entity.record_key: row}, row) for row in rows]
    found = entity.unwrap(body)
    assert found is not None, f"{example.id}: no record under {sorted(body)}"
    return [(body, found[1])]


def _present(value) -> bool:
    return value not in (None, "", [], {}) and value != [{}]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_each_documented_example_is_accepted_and_every_mapped_property_arrives(example: Example):
    table = MAPPING[example.entity]
    for body, record in _records(example):
        records = land(example.entity, body)
        values = header(records)
        assert records[0].values["raw"] is record  # the whole record is kept verbatim
        for prop, column in table["header"].items():
            if _present(record.get(prop)):
                assert values.get(column) is not None, f"{example.id}: {prop} → {column} did not arrive"
        if table["lines"] is None:
            continue
        field, line_table = table["lines"]
        documented = record.get(field)
        rows = children(records)
        if documented is None:
            assert rows is None  # a list row without lines leaves the stored lines alone
            continue
        lines = [documented] if isinstance(documented, dict) else documented
        assert rows is not None and len(rows) == len(lines)
        for line, row in zip(lines, rows):
            for prop, column in line_table.items():
                if _present(line.get(prop)):
                    assert row.get(column) is not None, f"{example.id}: {field}[].{prop} → {column} did not arrive"


def test_the_examples_cover_every_read_operation_of_the_five_modules():
    """Every GET of a list or a record in the five specs is in EXAMPLES (a new one would be noticed)."""
    wanted = {("inventoryadjustments", "/inventoryadjustments"),
              ("inventoryadjustments", "/inventoryadjustments/{inventory_adjustment_id}"),
              ("transferorders", "/transferorders"), ("transferorders", "/transferorders/{transfer_order_id}"),
              ("compositeitems", "/compositeitems"), ("compositeitems", "/compositeitems/{composite_item_id}"),
              ("itemgroups", "/itemgroups"), ("itemgroups", "/itemgroups/{itemgroup_id}"),
              ("vendor-credits", "/vendorcredits"), ("vendor-credits", "/vendorcredits/{vendor_credit_id}")}
    for module, path in wanted:
        assert "get" in spec(module)["paths"][path]
    assert wanted <= {(e.module, e.path) for e in EXAMPLES if e.method == "get"}


def test_the_mapping_table_names_only_properties_the_specs_document():
    """A typo in the table would silently never be checked: each property must be one the module's spec declares."""
    modules = {e.entity: e.module for e in EXAMPLES}
    for entity, table in MAPPING.items():
        declared = _declared(spec(modules[entity]))
        names = list(table["header"]) + (list(table["lines"][1]) if table["lines"] else [])
        unknown = [n for n in names if n not in declared and n not in BOOKS_ONLY.get(entity, ())]
        assert unknown == [], f"{entity}: not in its spec: {unknown}"


# Mapped properties the Inventory spec does not declare, documented for Books (ZOHO_API_NOTES.md) or in other
# Inventory modules (the version fields every record carries in practice)
BOOKS_ONLY = {
    "inventory-adjustments": ("status", "created_time", "last_modified_time"),
    "transfer-orders": ("created_time", "last_modified_time"),
    "item-groups": ("attribute_name2", "attribute_name3"),
    "vendor-credits": ("discount",),
}


def _declared(doc) -> set[str]:
    """Every property name declared anywhere in a spec's schemas."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                found.update(props)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc.get("components", {}))
    found.update(doc.get("components", {}).get("schemas", {}))  # a field documented as its own schema
    return found

"""A webhook for each of the five later entities lands its rows in the ERP through the real receiver and pipeline:
header and lines, both envelope spellings, newest wins, a repeat changes nothing, a delete deactivates."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from models.db import session_scope
from models.erp import (
    CompositeItem,
    CompositeItemComponent,
    InventoryAdjustment,
    InventoryAdjustmentLineItem,
    ItemGroup,
    TransferOrder,
    TransferOrderLineItem,
    VendorCredit,
    VendorCreditLineItem,
)
from tasks.pipeline import pipeline_for
from tests.support.webhooks import signed_post
from tests.zoho.transformers.test_composite_items import COMPOSITE
from tests.zoho.transformers.test_inventory_adjustments import ADJUSTMENT
from tests.zoho.transformers.test_item_groups import GROUP
from tests.zoho.transformers.test_transfer_orders import TRANSFER
from tests.zoho.transformers.test_vendor_credits import CREDIT


@dataclass(frozen=True)
class Case:
    entity: str
    keys: tuple[str, str]  # canonical envelope, other spelling
    record: dict
    id_field: str
    model: type
    line_model: type | None
    fk: str | None
    lines: int
    column: str  # a header column to compare
    value: object

    def zoho_id(self) -> str:
        return self.record[self.id_field]


CASES = [
    Case("inventory-adjustments", ("inventory_adjustment", "inventoryadjustment"), ADJUSTMENT,
         "inventory_adjustment_id", InventoryAdjustment, InventoryAdjustmentLineItem, "inventory_adjustment_id", 2,
         "reason", "Damaged goods"),
    Case("transfer-orders", ("transfer_order", "transferorder"), TRANSFER, "transfer_order_id", TransferOrder,
         TransferOrderLineItem, "transfer_order_id", 2, "to_location_name", "Basra Branch Warehouse"),
    Case("composite-items", ("composite_item", "compositeitem"), COMPOSITE, "composite_item_id", CompositeItem,
         CompositeItemComponent, "composite_item_id", 2, "name", "Starter Kit 1"),
    Case("item-groups", ("itemgroup", "item_group"), GROUP, "group_id", ItemGroup, None, None, 0,
         "group_name", "Samsung Capacity range 1"),
    Case("vendor-credits", ("vendor_credit", "vendorcredit"), CREDIT, "vendor_credit_id", VendorCredit,
         VendorCreditLineItem, "vendor_credit_id", 2, "vendor_credit_number", "DN-00001"),
]
by_entity = pytest.mark.parametrize("case", CASES, ids=[c.entity for c in CASES])


def post(client, case: Case, record: dict, key: str | None = None, **params):
    return signed_post(client, f"/api/zoho/webhooks/{case.entity}", key or case.keys[0], record,
                       params=params or None)


def apply(case: Case, response) -> dict:
    assert response.status_code == 202, response.json
    return pipeline_for(case.entity).run([response.json["event_id"]], "test")


def header(case: Case):
    with session_scope() as s:
        rows = list(s.execute(select(case.model)).scalars())
        assert len(rows) == 1
        s.expunge_all()
        return rows[0]


def line_count(case: Case, parent_id: int) -> int:
    with session_scope() as s:
        return s.execute(select(func.count()).select_from(case.line_model)
                         .where(getattr(case.line_model, case.fk) == parent_id)).scalar_one()


@by_entity
def test_a_webhook_lands_the_header_and_its_lines(client, db, case):
    apply(case, post(client, case, copy.deepcopy(case.record)))
    row = header(case)
    assert getattr(row, case.model.zoho_key) == case.zoho_id()
    assert getattr(row, case.column) == case.value
    assert row.is_active is True and row.last_synced_at is not None and row.zoho_last_modified_at is not None
    assert row.raw[case.id_field] == case.zoho_id()
    if case.line_model is not None:
        assert line_count(case, row.id) == case.lines


@by_entity
def test_the_other_envelope_spelling_lands_the_same_record(client, db, case):
    apply(case, post(client, case, copy.deepcopy(case.record), key=case.keys[1]))
    assert getattr(header(case), case.column) == case.value


@by_entity
def test_newest_wins_a_repeat_changes_nothing_and_a_delete_deactivates(client, db, case):
    apply(case, post(client, case, copy.deepcopy(case.record)))
    older = {**copy.deepcopy(case.record), "last_modified_time": "2020-01-01T00:00:00+0300", case.column: "old"}
    apply(case, post(client, case, older))
    assert getattr(header(case), case.column) == case.value  # an older version never overwrites

    again = post(client, case, copy.deepcopy(case.record))
    assert again.status_code == 200 and again.json["status"] == "duplicate"

    apply(case, post(client, case, {case.id_field: case.zoho_id()}, event="deleted"))
    row = header(case)
    assert row.is_active is False and getattr(row, case.column) == case.value  # history kept
    if case.line_model is not None:
        assert line_count(case, row.id) == case.lines


@by_entity
def test_a_field_of_an_unexpected_shape_is_accepted_and_the_record_lands(client, db, case):
    odd = {**copy.deepcopy(case.record), "total": {"amount": 1}, "description": ["not", "text"],
           "custom_fields": "none"}
    response = post(client, case, odd)
    assert response.status_code == 202
    apply(case, response)
    row = header(case)
    assert getattr(row, case.column) == case.value and row.raw["total"] == {"amount": 1}


@by_entity
def test_a_record_without_its_id_is_refused_422(client, db, case):
    record = {k: v for k, v in case.record.items() if k != case.id_field}
    assert post(client, case, record).status_code == 422

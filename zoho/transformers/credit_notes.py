"""Zoho Books credit note → `credit_notes` row + `credit_note_line_items` (lines may name their invoice)."""
from __future__ import annotations

from models.erp import CreditNote, CreditNoteLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoId, ZohoText, to_text, to_zoho_id
from zoho.transformers.documents import (
    CustomerDocumentMapper,
    CustomerDocumentSchema,
    DocumentType,
    LineMapper,
    numbered,
)


class CreditNoteSchema(CustomerDocumentSchema):
    creditnote_id = ZohoId(required=True)
    creditnote_number = ZohoText(allow_none=True)
    reason = ZohoText(allow_none=True)


class CreditNoteMapper(CustomerDocumentMapper):
    direct = CustomerDocumentMapper.direct + numbered("creditnote") + (
        ("reason", "reason", to_text),
    )


class CreditNoteLineMapper(LineMapper):
    direct = LineMapper.direct + (("invoice_id", "zoho_invoice_id", to_zoho_id),)


CREDIT_NOTE = DocumentType(CreditNote, CreditNoteMapper, CreditNoteLineItem, "credit_note_id", CreditNoteLineMapper)

ENTITY = Entity(
    name="credit-notes",
    record_keys={"creditnote": "creditnote_id", "credit_note": "creditnote_id"},
    schema=CreditNoteSchema,
    transform=CREDIT_NOTE.transform,
    model=CreditNote,
    sources=(ApiSource("books", "/creditnotes", "creditnotes", "creditnote", detail=True),),
)

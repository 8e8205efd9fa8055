"""The sandbox organisation's in-memory store: seeded Zoho records, queried and edited thread-safely.

Records are held as plain dicts in Zoho's detail shape and are *copy-on-write*: an
edit builds a new dict and swaps it in under the lock, and nothing published is ever
mutated again. A reader can therefore take references under the lock and serialise
them after releasing it, and list rows, detail GETs, webhooks and `/sandbox/records`
always agree on a record's state.

Two vocabularies meet here: Zoho's modules (`items`, `contacts`, `invoices`, …, the
store's "collections") and the project's entity names (`products`, `stock`,
`customers`, `credit-notes`, …), which are views over those collections.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zoho_sandbox import generator as gen
from zoho_sandbox import more
from zoho_sandbox.generator import DEFAULT_ORG_ID, ORG_TZ, fmt_time


@dataclass(frozen=True)
class Collection:
    """One Zoho module as the API serves it."""

    name: str
    id_field: str
    list_key: str
    detail_key: str
    label: str  # "<label> does not exist."
    summary_drop: frozenset[str] = frozenset()  # detail-only fields left out of list rows


_DOC_DETAIL_ONLY = frozenset(
    {
        "line_items",
        "taxes",
        "notes",
        "terms",
        "contact_persons_associated",
        "custom_fields",
        "shipping_address",
        "payments",
        "vendor_credits",
        "invoices",
    }
)

COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in (
        Collection(
            "items",
            "item_id",
            "items",
            "item",
            "Item",
            frozenset(
                {
                    "item_tax_preferences",
                    "purchase_account_id",
                    "purchase_account_name",
                    "inventory_account_id",
                    "inventory_account_name",
                    "account_id",
                    "account_name",
                    "tags",
                }
            ),
        ),
        Collection(
            "contacts",
            "contact_id",
            "contacts",
            "contact",
            "Contact",
            frozenset({"contact_persons", "default_templates", "custom_fields", "notes"}),
        ),
        Collection("invoices", "invoice_id", "invoices", "invoice", "Invoice", _DOC_DETAIL_ONLY),
        Collection("bills", "bill_id", "bills", "bill", "Bill", _DOC_DETAIL_ONLY),
        Collection("creditnotes", "creditnote_id", "creditnotes", "creditnote", "Credit Note", _DOC_DETAIL_ONLY),
        Collection("salesorders", "salesorder_id", "salesorders", "salesorder", "Sales Order", _DOC_DETAIL_ONLY),
        Collection(
            "purchaseorders",
            "purchaseorder_id",
            "purchaseorders",
            "purchaseorder",
            "Purchase Order",
            _DOC_DETAIL_ONLY | {"delivery_address"},
        ),
        Collection(
            "customerpayments",
            "payment_id",
            "customerpayments",
            "payment",
            "Payment",
            frozenset({"invoices", "custom_fields"}),
        ),
        Collection(
            "vendorpayments",
            "payment_id",
            "vendorpayments",
            "vendorpayment",
            "Vendor Payment",
            frozenset({"bills", "custom_fields"}),
        ),
        Collection(
            "pricebooks", "pricebook_id", "pricebooks", "pricebook", "Price List", frozenset({"pricebook_items"})
        ),
        Collection("locations", "location_id", "locations", "location", "Location", frozenset({"associated_users"})),
        # the later modules, as Zoho's spec names their lists and records (zoho_sandbox/more.py)
        Collection("inventoryadjustments", "inventory_adjustment_id", "inventory_adjustments",
                   "inventory_adjustment", "Inventory Adjustment", frozenset({"line_items"})),
        Collection("transferorders", "transfer_order_id", "transfer_orders", "transfer_order", "Transfer Order",
                   frozenset({"line_items"})),
        Collection("compositeitems", "composite_item_id", "composite_items", "composite_item", "Composite Item",
                   frozenset({"mapped_items"})),
        Collection("itemgroups", "group_id", "itemgroups", "itemgroup", "Item Group"),
        Collection("vendorcredits", "vendor_credit_id", "vendorcredits", "vendor_credit", "Vendor Credit",
                   frozenset({"line_items", "notes", "custom_fields"})),
    )
}

#: The legacy view of locations (`/settings/warehouses`), same records, other field names.
WAREHOUSES = Collection("warehouses", "warehouse_id", "warehouses", "warehouse", "Warehouse")


@dataclass(frozen=True)
class EntityView:
    """A project entity (URL name) as a view over Zoho collections."""

    name: str
    collections: tuple[str, ...]
    contact_type: str | None = None
    webhook_keys: tuple[str, ...] = ()  # body key per collection, same order


ENTITIES: dict[str, EntityView] = {
    v.name: v
    for v in (
        EntityView("products", ("items",), webhook_keys=("item",)),
        EntityView("stock", ("items",), webhook_keys=("item",)),
        EntityView("customers", ("contacts",), "customer", ("contact",)),
        EntityView("vendors", ("contacts",), "vendor", ("contact",)),
        EntityView("invoices", ("invoices",), webhook_keys=("invoice",)),
        EntityView("bills", ("bills",), webhook_keys=("bill",)),
        EntityView("credit-notes", ("creditnotes",), webhook_keys=("creditnote",)),
        EntityView("prices", ("pricebooks",), webhook_keys=("pricebook",)),
        EntityView("warehouses", ("locations",), webhook_keys=("location",)),
        EntityView("payments", ("customerpayments", "vendorpayments"), webhook_keys=("payment", "vendorpayment")),
        EntityView("sales-orders", ("salesorders",), webhook_keys=("salesorder",)),
        EntityView("purchase-orders", ("purchaseorders",), webhook_keys=("purchaseorder",)),
        EntityView("inventory-adjustments", ("inventoryadjustments",), webhook_keys=("inventory_adjustment",)),
        EntityView("transfer-orders", ("transferorders",), webhook_keys=("transfer_order",)),
        EntityView("composite-items", ("compositeitems",), webhook_keys=("composite_item",)),
        EntityView("item-groups", ("itemgroups",), webhook_keys=("itemgroup",)),
        EntityView("vendor-credits", ("vendorcredits",), webhook_keys=("vendor_credit",)),
    )
}


class UnknownEntity(KeyError):
    """The URL named no entity the sandbox knows."""


class RecordNotFound(KeyError):
    """No record with that id in the entity's collections."""


class InvalidRecord(ValueError):
    """A record supplied to create/touch cannot be stored (bad id, wrong shape)."""


# ---------------------------------------------------------------------------
# Time parsing (the `last_modified_time` filter)
# ---------------------------------------------------------------------------

_TIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_time(value: str) -> int:
    """A Zoho-ish timestamp → epoch seconds, leniently.

    Accepts `+0300`, `+03:00`, `Z`, no offset (the organisation's `+0300`), a bare date,
    and a `+` that an unencoding client let turn into a space (`…T10:00:00 0300`).
    """
    s = value.strip()
    s = re.sub(r"(\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?) (\d{2}:?\d{2})$", r"\1+\2", s)
    m = _TIME_RE.match(s)
    if not m:
        raise ValueError(f"not a timestamp: {value!r}")
    tz = m["tz"]
    if tz in (None, ""):
        tzinfo = ORG_TZ
    elif tz in ("Z", "z"):
        tzinfo = dt.timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        tzinfo = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    year, month, day = (int(x) for x in m["date"].split("-"))
    stamp = dt.datetime(year, month, day, int(m["h"] or 0), int(m["m"] or 0), int(m["s"] or 0), tzinfo=tzinfo)
    return int(stamp.timestamp())


def _sort_value(value: Any) -> tuple:
    """A total order over Zoho's mixed field values (empty first, numbers, then text)."""
    if value is None or value == "":
        return (0, 0.0, "")
    if isinstance(value, bool):
        return (1, float(value), "")
    if isinstance(value, (int, float)):
        return (1, float(value), "")
    text = str(value)
    try:
        return (1, float(text), "")
    except ValueError:
        return (2, 0.0, text.lower())


def _id_key(zoho_id: str) -> tuple[int, str]:
    return (len(zoho_id), zoho_id)


def _sort_key(sort_column: str | None, id_field: str) -> Callable[[Entry], tuple]:
    """Row order for a list: by id when unsorted, else by the column with the id breaking ties."""
    if not sort_column:
        return lambda e: _id_key(e.record[id_field])
    if sort_column == "created_time":
        return lambda e: (e.created, _id_key(e.record[id_field]))
    if sort_column == "last_modified_time":
        return lambda e: (e.modified, _id_key(e.record[id_field]))
    return lambda e: (_sort_value(e.record.get(sort_column)), _id_key(e.record[id_field]))


class Entry:
    """A stored record plus the epochs the store filters and sorts by."""

    __slots__ = ("record", "created", "modified", "extra")

    def __init__(self, record: dict[str, Any], created: int, modified: int, extra: dict[str, Any] | None = None):
        self.record = record
        self.created = created
        self.modified = modified
        self.extra = extra or {}


@dataclass
class Change:
    """What one touch/create/delete did, enough to send its webhook."""

    entity: str
    collection: str
    operation: str  # "upsert" | "delete"
    record: dict[str, Any]
    zoho_id: str
    webhook_key: str
    extra: dict[str, Any] = field(default_factory=dict)


class OrgSnapshot:
    """The seeded organisation of one (seed, scale) as generated, to make fresh `SandboxOrg`s from.

    Generating costs tens of milliseconds at test scales (half a second at scale 1.0); making an
    organisation from a snapshot costs about a millisecond, so a sandbox reset (once per test in the
    suites) keeps its snapshot instead of generating again. The records are shared, not copied: the
    store is copy-on-write (an edit swaps in a new dict, nothing published is mutated again), so no
    organisation made from a snapshot can change it or another one. What an organisation does mutate
    is its own: the index entries, the id allocator and the settings refs are copied for each.
    """

    def __init__(self, seed: int = 42, scale: float = 1.0) -> None:
        self.seed = int(seed)
        self.scale = float(scale)
        self._generated = gen.generate_org(self.seed, self.scale)
        more.generate(self._generated, self.seed, self.scale)  # the later modules, from their own random streams

    def org(
        self,
        *,
        org_id: str = DEFAULT_ORG_ID,
        legacy_warehouses: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> SandboxOrg:
        """A fresh organisation holding the seeded records, as if just generated."""
        g = self._generated
        fresh = gen.GeneratedOrg(g.collections, copy.copy(g.ids), copy.deepcopy(g.meta))
        return SandboxOrg(
            fresh,
            seed=self.seed,
            scale=self.scale,
            org_id=org_id,
            legacy_warehouses=legacy_warehouses,
            clock=clock,
        )


class SandboxOrg:
    """One Zoho organisation: every collection, its id allocator and its clock, behind one lock."""

    def __init__(
        self,
        generated: gen.GeneratedOrg,
        *,
        seed: int = 42,
        scale: float = 1.0,
        org_id: str = DEFAULT_ORG_ID,
        legacy_warehouses: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.seed = seed
        self.scale = scale
        self.org_id = str(org_id)
        self.legacy_warehouses = legacy_warehouses
        self.lock = threading.RLock()
        self._ids = generated.ids
        self._meta = generated.meta
        self._clock = clock
        self._rng = random.Random(f"{seed}:edits")
        self._collections: dict[str, dict[str, Entry]] = {name: {} for name in COLLECTIONS}
        high = 0
        for name, seeded in generated.collections.items():
            coll = COLLECTIONS[name]
            store = self._collections[name]
            for s in seeded:
                store[s.record[coll.id_field]] = Entry(s.record, s.created, s.modified, dict(s.extra))
                high = max(high, s.modified)
        self._high_water = high
        self._price_index: dict[str, tuple[dict[str, Any], ...]] = {}
        self._rebuild_price_index()
        # deleted records, so a delete webhook can still be fired for them afterwards
        self._graveyard: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    @classmethod
    def generate(
        cls,
        seed: int = 42,
        scale: float = 1.0,
        *,
        org_id: str = DEFAULT_ORG_ID,
        legacy_warehouses: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> SandboxOrg:
        """The seeded organisation; the same (seed, scale) always yields the same records."""
        return OrgSnapshot(seed, scale).org(org_id=org_id, legacy_warehouses=legacy_warehouses, clock=clock)

    # ------------------------------------------------------------------ rendering

    def _rebuild_price_index(self) -> None:
        index: dict[str, list[dict[str, Any]]] = {}
        for entry in self._collections["pricebooks"].values():
            book = entry.record
            for pbi in book.get("pricebook_items") or []:
                index.setdefault(pbi["item_id"], []).append(
                    {
                        "pricebook_id": book["pricebook_id"],
                        "pricebook_name": book["name"],
                        "pricebook_rate": pbi.get("pricebook_rate"),
                    }
                )
        self._price_index = {k: tuple(v) for k, v in index.items()}

    def _render_item(self, record: dict[str, Any], summary: bool) -> dict[str, Any]:
        """An item as Zoho serves it: current location names, price-book rates, locations or warehouses."""
        drop = COLLECTIONS["items"].summary_drop if summary else ()
        out = {k: v for k, v in record.items() if k not in drop}
        names = self._collections["locations"]
        locs = []
        for loc in record.get("locations") or []:
            current = names.get(loc["location_id"])
            name = current.record["location_name"] if current else loc.get("location_name", "")
            locs.append(loc if name == loc.get("location_name") else {**loc, "location_name": name})
        if self.legacy_warehouses:
            del out["locations"]
            out["warehouses"] = [
                {
                    "warehouse_id": loc["location_id"],
                    "warehouse_name": loc["location_name"],
                    "status": loc.get("status", "active"),
                    "is_primary": loc.get("is_primary", False),
                    "warehouse_stock_on_hand": loc.get("location_stock_on_hand", ""),
                    "warehouse_available_stock": loc.get("location_available_stock", ""),
                    "warehouse_actual_available_stock": loc.get("location_actual_available_stock", ""),
                    "warehouse_committed_stock": loc.get("location_committed_stock", ""),
                    "warehouse_actual_committed_stock": loc.get("location_actual_committed_stock", ""),
                    "warehouse_available_for_sale_stock": loc.get("location_available_for_sale_stock", ""),
                    "warehouse_actual_available_for_sale_stock": loc.get(
                        "location_actual_available_for_sale_stock", ""
                    ),
                }
                for loc in locs
            ]
        else:
            out["locations"] = locs
        out["pricebook_rates"] = list(self._price_index.get(record["item_id"], ()))
        return out

    def render(
        self, collection: str, entry: Entry, *, summary: bool = False, view: str | None = None
    ) -> dict[str, Any]:
        """The JSON-ready record (caller must not mutate it). `view="warehouses"` gives the legacy shape."""
        record = entry.record
        if collection == "items":
            return self._render_item(record, summary)
        if collection == "locations" and (view == "warehouses" or (view is None and self.legacy_warehouses)):
            return gen.location_as_warehouse(record)
        if summary:
            drop = COLLECTIONS[collection].summary_drop
            return {k: v for k, v in record.items() if k not in drop}
        return record

    # ------------------------------------------------------------------ queries

    def list_page(
        self,
        collection: str,
        *,
        page: int = 1,
        per_page: int = 200,
        modified_since: int | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        sort_column: str | None = None,
        sort_order: str = "A",
        summary: bool = True,
        view: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of rows and whether more follow; ties always break by id, so paging is stable."""
        with self.lock:
            entries: Iterable[Entry] = self._collections[collection].values()
            if modified_since is not None:
                entries = (e for e in entries if e.modified >= modified_since)
            if where is not None:
                entries = (e for e in entries if where(e.record))
            chosen = list(entries)
            descending = (sort_order or "A").upper().startswith("D")
            key = _sort_key(sort_column, COLLECTIONS[collection].id_field)
            chosen.sort(key=key, reverse=descending)
            start = (page - 1) * per_page
            window = chosen[start : start + per_page]
            rows = [self.render(collection, e, summary=summary, view=view) for e in window]
            return rows, start + per_page < len(chosen)

    def get(self, collection: str, zoho_id: str, *, view: str | None = None) -> dict[str, Any] | None:
        with self.lock:
            entry = self._collections[collection].get(str(zoho_id))
            return None if entry is None else self.render(collection, entry, view=view)

    def get_many(self, collection: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        with self.lock:
            store = self._collections[collection]
            return [self.render(collection, store[i]) for i in ids if i in store]

    def image(self, item_id: str) -> tuple[str, str] | None:
        """(image key, image type) for an item with a picture, else None."""
        with self.lock:
            entry = self._collections["items"].get(str(item_id))
            if entry is None or not entry.record.get("image_name"):
                return None
            key = entry.extra.get("image_key") or entry.record.get("image_document_id") or entry.record["item_id"]
            return str(key), str(entry.record.get("image_type") or "jpg")

    def count(self, collection: str) -> int:
        with self.lock:
            return len(self._collections[collection])

    # ------------------------------------------------------------------ entity views

    @staticmethod
    def view(entity: str) -> EntityView:
        try:
            return ENTITIES[entity]
        except KeyError:
            raise UnknownEntity(entity) from None

    def _in_view(self, view: EntityView, record: dict[str, Any]) -> bool:
        return view.contact_type is None or record.get("contact_type") in (view.contact_type, "both")

    def entity_records(self, entity: str) -> list[dict[str, Any]]:
        """Every current record of an entity in detail shape (payments tagged with `payment_type`)."""
        v = self.view(entity)
        with self.lock:
            out = []
            for coll in v.collections:
                for entry in self._collections[coll].values():
                    if not self._in_view(v, entry.record):
                        continue
                    rendered = self.render(coll, entry)
                    if entity == "payments":
                        rendered = {**rendered, "payment_type": "customer" if coll == "customerpayments" else "vendor"}
                    out.append(rendered)
            return out

    def counts(self) -> dict[str, int]:
        with self.lock:
            result = {}
            for name, v in ENTITIES.items():
                result[name] = (
                    sum(
                        1
                        for coll in v.collections
                        for e in self._collections[coll].values()
                        if self._in_view(v, e.record)
                    )
                    if v.contact_type
                    else sum(len(self._collections[c]) for c in v.collections)
                )
            return result

    def _find(self, entity: str, zoho_id: str) -> tuple[str, Entry]:
        v = self.view(entity)
        for coll in v.collections:
            entry = self._collections[coll].get(str(zoho_id))
            if entry is not None and self._in_view(v, entry.record):
                return coll, entry
        raise RecordNotFound(f"{entity}/{zoho_id}")

    def entity_record(self, entity: str, zoho_id: str) -> dict[str, Any]:
        """One current record of an entity, as `entity_records` shows it."""
        with self.lock:
            coll, entry = self._find(entity, zoho_id)
            rendered = self.render(coll, entry)
            if entity == "payments":
                rendered = {**rendered, "payment_type": "customer" if coll == "customerpayments" else "vendor"}
            return rendered

    def change_for(self, entity: str, zoho_id: str, operation: str = "upsert") -> Change:
        """The webhook-ready change for a record as it is now (or, for deletes, as it was when deleted)."""
        with self.lock:
            try:
                coll, entry = self._find(entity, zoho_id)
            except RecordNotFound:
                if operation != "delete":
                    raise
                v = self.view(entity)
                for coll in v.collections:
                    ghost = self._graveyard.get((coll, str(zoho_id)))
                    if ghost is not None and self._in_view(v, ghost):
                        return Change(entity, coll, "delete", ghost, str(zoho_id), self.webhook_key(entity, coll))
                raise
            return self._change(entity, coll, operation, entry)

    def webhook_key(self, entity: str, collection: str) -> str:
        v = self.view(entity)
        if entity == "warehouses" and self.legacy_warehouses:
            return "warehouse"
        return v.webhook_keys[v.collections.index(collection)]

    def _change(self, entity: str, coll: str, operation: str, entry: Entry) -> Change:
        record = self.render(coll, entry)
        return Change(
            entity, coll, operation, record, entry.record[COLLECTIONS[coll].id_field], self.webhook_key(entity, coll)
        )

    def random_id(
        self, entity: str, rng: random.Random, predicate: Callable[[dict[str, Any]], bool] | None = None
    ) -> str | None:
        """A random record id of the entity (optionally one satisfying `predicate`)."""
        v = self.view(entity)
        with self.lock:
            coll = v.collections[rng.randrange(len(v.collections))]
            candidates = [
                i
                for i, e in self._collections[coll].items()
                if self._in_view(v, e.record) and (predicate is None or predicate(e.record))
            ]
            return candidates[rng.randrange(len(candidates))] if candidates else None

    def referenced_ids(self) -> set[str]:
        """Ids other records point at; Zoho refuses to delete these, so live mode leaves them alone."""
        with self.lock:
            refs: set[str] = set()
            for name in ("invoices", "bills", "creditnotes", "salesorders", "purchaseorders"):
                for e in self._collections[name].values():
                    r = e.record
                    refs.add(r.get("customer_id") or r.get("vendor_id") or "")
                    refs.update(line.get("item_id") or "" for line in r.get("line_items") or [])
            for name, app_key, id_key in (
                ("customerpayments", "invoices", "invoice_id"),
                ("vendorpayments", "bills", "bill_id"),
            ):
                for e in self._collections[name].values():
                    refs.add(e.record.get("customer_id") or e.record.get("vendor_id") or "")
                    refs.update(a.get(id_key) or "" for a in e.record.get(app_key) or [])
            for e in self._collections["creditnotes"].values():
                refs.update(a.get("invoice_id") or "" for a in e.record.get("invoices") or [])
            for name, lines in (("inventoryadjustments", "line_items"), ("transferorders", "line_items"),
                                ("compositeitems", "mapped_items"), ("itemgroups", "items"),
                                ("vendorcredits", "line_items")):
                for e in self._collections[name].values():
                    refs.add(e.record.get("vendor_id") or "")
                    refs.update(line.get("item_id") or "" for line in e.record.get(lines) or [])
            refs.update(self._collections["locations"])
            refs.discard("")
            return refs

    # ------------------------------------------------------------------ edits

    def now(self) -> int:
        """The organisation's clock: wall time, never behind the newest seeded edit.

        Seeded data is anchored at a fixed epoch; if the machine's clock were behind it,
        an edit stamped with wall time would sort before records a client already saw
        and an incremental pull would miss it.
        """
        return max(int(self._clock()), self._high_water)

    def _stamp(self, entry: Entry, record: dict[str, Any], explicit: str | None = None) -> None:
        """Set `last_modified_time` strictly after the previous value (or to an explicit one)."""
        if explicit:
            modified = parse_time(explicit)
        else:
            modified = max(self.now(), entry.modified + 1)
            self._high_water = max(self._high_water, modified)
        entry.modified = modified
        record["last_modified_time"] = fmt_time(modified)
        if "updated_time" in record:
            record["updated_time"] = record["last_modified_time"]
        if "last_modified_time_formatted" in record:
            record["last_modified_time_formatted"] = gen.display_date(gen.fmt_date(modified))

    def _goods(self) -> list[dict[str, Any]]:
        return [
            e.record
            for e in self._collections["items"].values()
            if e.record.get("product_type") == "goods" and e.record.get("status") == "active"
        ]

    def touch(
        self, entity: str, zoho_id: str, fields: dict[str, Any] | None = None, rng: random.Random | None = None
    ) -> Change:
        """Edit a record like a user would (or set `fields`), bumping `last_modified_time`."""
        rng = rng or self._rng
        with self.lock:
            coll, entry = self._find(entity, zoho_id)
            record = copy.deepcopy(entry.record)
            explicit_time = None
            if fields:
                explicit_time = self._apply_fields(coll, record, fields)
            else:
                self._mutate(entity, coll, record, rng)
            self._stamp(entry, record, explicit_time)
            entry.record = record
            if coll == "pricebooks":
                self._rebuild_price_index()
            return self._change(entity, coll, "upsert", entry)

    def _mutate(self, entity: str, coll: str, record: dict[str, Any], rng: random.Random) -> None:
        if entity == "stock":
            gen.mutate_stock(rng, record)
        elif coll == "items":
            gen.mutate_item(rng, record, self._meta, self._ids)
        elif coll == "contacts":
            gen.mutate_contact(rng, record, self._meta)
        elif coll in gen.DOC_KINDS:
            gen.mutate_document(rng, record, coll, self._meta, self._ids, self._goods())
        elif coll in ("customerpayments", "vendorpayments"):
            gen.mutate_payment(rng, record)
        elif coll == "pricebooks":
            gen.mutate_pricebook(rng, record, self._ids, self._goods())
        elif coll == "locations":
            gen.mutate_location(rng, record)
        elif coll in more.KINDS:
            more.mutate(coll, rng, record)

    def _apply_fields(self, coll: str, record: dict[str, Any], fields: dict[str, Any]) -> str | None:
        """Set caller-chosen fields, keeping derived fields (stock sums, totals) coherent.

        Returns an explicit `last_modified_time` if the caller set one.
        """
        if not isinstance(fields, dict):
            raise InvalidRecord("fields must be an object")
        id_field = COLLECTIONS[coll].id_field
        fields = copy.deepcopy(fields)
        fields.pop(id_field, None)
        explicit = fields.pop("last_modified_time", None)
        if explicit is not None:
            try:
                parse_time(str(explicit))
            except ValueError as e:
                raise InvalidRecord(str(e)) from e
        if coll == "items":
            self._apply_item_fields(record, fields)
        else:
            if coll == "locations":
                # the legacy view's names map onto the location the warehouse really is
                for legacy, current in (("warehouse_name", "location_name"), ("is_primary", "is_primary_location")):
                    if legacy in fields:
                        fields[current] = fields.pop(legacy)
                fields.pop("warehouse_id", None)
            if coll in gen.DOC_KINDS:
                self._complete_document_fields(coll, record, fields)
            record.update(fields)
            if coll in gen.DOC_KINDS and ("line_items" in fields or not {"total", "sub_total"} & set(fields)):
                gen.finalize_document(record, coll)
                if "status" in fields:  # the caller's status wins over the one derived from the balance
                    record["status"] = fields["status"]
        if coll == "contacts":
            name = record.get("contact_name", "")
            if record.get("contact_type") in ("customer", "both"):
                record["customer_name"] = name
            if record.get("contact_type") != "customer":
                record["vendor_name"] = name
        return None if explicit is None else str(explicit)

    def _complete_document_fields(self, coll: str, record: dict[str, Any], fields: dict[str, Any]) -> None:
        """Fill what a caller leaves out: the party's name for its id, line details from the item."""
        side = gen.DOC_KINDS[coll][3]
        party_id = fields.get(f"{side}_id")
        if party_id:
            entry = self._collections["contacts"].get(str(party_id))
            if entry is None:
                raise InvalidRecord(f"{side}_id {party_id} does not exist")
            party = entry.record
            fields.setdefault(f"{side}_name", party["contact_name"])
            fields.setdefault("billing_address", party.get("billing_address") or {})
            if "currency_code" not in fields:
                currency = party.get("currency_code") or gen.BASE_CURRENCY
                fields["currency_code"] = currency
                fields.setdefault("exchange_rate", 1 if currency == gen.BASE_CURRENCY else gen.num(gen.USD_RATE))
        currency = fields.get("currency_code")
        if currency:
            if currency not in gen.CURRENCIES:
                raise InvalidRecord(f"currency_code {currency} is not enabled for this organisation")
            fields.setdefault("currency_id", gen.CURRENCIES[currency]["currency_id"])
            fields.setdefault("currency_symbol", gen.CURRENCIES[currency]["currency_symbol"])
            fields.setdefault("price_precision", gen.CURRENCIES[currency]["precision"])
        currency = currency or record.get("currency_code") or gen.BASE_CURRENCY
        exchange_rate = float(fields.get("exchange_rate") or record.get("exchange_rate") or 1)
        if "line_items" not in fields:
            return
        if not isinstance(fields["line_items"], list):
            raise InvalidRecord("line_items must be a list")
        lines = []
        for line in fields["line_items"]:
            if not isinstance(line, dict):
                raise InvalidRecord("each line item must be an object")
            line = dict(line)
            item_entry = self._collections["items"].get(str(line.get("item_id") or ""))
            if line.get("item_id") and item_entry is None:
                raise InvalidRecord(f"item_id {line['item_id']} does not exist")
            item = item_entry.record if item_entry else {}
            line.setdefault("line_item_id", self._ids.sub())
            line.setdefault("name", item.get("name", "Item"))
            line.setdefault("sku", item.get("sku", ""))
            line.setdefault("unit", item.get("unit", ""))
            line.setdefault("quantity", 1)
            if "rate" not in line:
                bcy_rate = float(item.get("purchase_rate" if side == "vendor" else "rate") or 0)
                line["bcy_rate"] = gen.num(bcy_rate)
                line["rate"] = (
                    gen.round_price(bcy_rate / exchange_rate, currency) if exchange_rate != 1 else line["bcy_rate"]
                )
            line.setdefault("discount", 0)
            line.setdefault("tax_percentage", item.get("tax_percentage", 0))
            line.setdefault("description", "")
            lines.append(line)
        fields["line_items"] = lines

    def _apply_item_fields(self, record: dict[str, Any], fields: dict[str, Any]) -> None:
        cf_values = fields.pop("custom_field_values", None)
        stock_rows = fields.pop("locations", None)
        if stock_rows is None:
            stock_rows = fields.pop("warehouses", None)
        total = fields.pop("stock_on_hand", None)
        for key in gen.STOCK_KEYS:
            fields.pop(key, None)  # derived from locations
        record.update(fields)
        if "name" in fields:
            record["item_name"] = fields["name"]
        if "rate" in fields or "purchase_rate" in fields:
            gen.refresh_item_formatted(record)
        if cf_values:
            values = gen.custom_values(record) | {str(k): str(v) for k, v in cf_values.items()}
            gen.set_custom_fields(record, self._meta, values)
        if stock_rows is not None:
            by_id = {loc["location_id"]: loc for loc in record.get("locations") or []}
            for row in stock_rows:
                lid = str(row.get("location_id") or row.get("warehouse_id") or "")
                if lid not in by_id:
                    raise InvalidRecord(f"unknown location {lid!r}")
                on_hand = row.get(
                    "location_stock_on_hand", row.get("warehouse_stock_on_hand", row.get("stock_on_hand"))
                )
                committed = row.get("location_committed_stock", row.get("warehouse_committed_stock"))
                by_id[lid] = gen.set_location_quantity(
                    by_id[lid], float(on_hand or 0), None if committed is None else float(committed)
                )
            record["locations"] = list(by_id.values())
        elif total is not None and total != "":
            locs = [dict(loc) for loc in record.get("locations") or []]
            if locs:
                others = sum(float(loc.get("location_stock_on_hand") or 0) for loc in locs if not loc.get("is_primary"))
                for i, loc in enumerate(locs):
                    if loc.get("is_primary"):
                        locs[i] = gen.set_location_quantity(loc, max(0.0, float(total) - others))
                record["locations"] = locs
        gen.recompute_item_stock(record)

    def create(self, entity: str, record: dict[str, Any] | None = None, rng: random.Random | None = None) -> Change:
        """Add a record: a realistic generated one, overlaid with whatever the caller supplied."""
        rng = rng or self._rng
        supplied = copy.deepcopy(record or {})
        if not isinstance(supplied, dict):
            raise InvalidRecord("record must be an object")
        v = self.view(entity)
        with self.lock:
            coll = v.collections[0]
            if entity == "payments" and str(supplied.pop("payment_type", "customer")) == "vendor":
                coll = "vendorpayments"
            supplied.pop("payment_type", None)
            spec = COLLECTIONS[coll]
            zoho_id = str(supplied.get(spec.id_field) or "") or self._ids.main(rng)
            if not zoho_id.isdigit():
                raise InvalidRecord(f"{spec.id_field} must be a digit string")
            if zoho_id in self._collections[coll]:
                raise InvalidRecord(f"{spec.id_field} {zoho_id} already exists")
            self._ids.ensure_above(zoho_id)
            now = self.now()
            template = self._template(entity, coll, zoho_id, now, rng)
            explicit = supplied.pop("last_modified_time", None)
            entry = Entry(template, now, now)
            if supplied.get("created_time"):
                entry.created = parse_time(str(supplied["created_time"]))
            if supplied:
                self._apply_fields(coll, template, supplied)
            template[spec.id_field] = zoho_id
            if explicit:
                entry.modified = parse_time(str(explicit))
            else:
                entry.modified = now
                self._high_water = max(self._high_water, now)
            template["last_modified_time"] = fmt_time(entry.modified)
            if template.get("image_document_id"):
                entry.extra["image_key"] = template["image_document_id"]
            self._collections[coll][zoho_id] = entry
            if coll == "pricebooks":
                self._rebuild_price_index()
            return self._change(entity, coll, "upsert", entry)

    def _template(self, entity: str, coll: str, zoho_id: str, now: int, rng: random.Random) -> dict[str, Any]:
        meta, ids = self._meta, self._ids
        contacts = self._collections["contacts"]
        if coll == "items":
            seq = len(self._collections["items"]) + 1
            vendors = [e.record for e in contacts.values() if e.record.get("contact_type") == "vendor"]
            record, _ = gen.build_item(rng, meta, ids, zoho_id, seq, now, now, vendors[:20])
            record["status"] = "active"
            return record
        if coll == "contacts":
            return gen.build_contact(rng, meta, ids, zoho_id, self.view(entity).contact_type or "customer", now, now)
        if coll in gen.DOC_KINDS:
            side = gen.DOC_KINDS[coll][3]
            parties = [
                e.record
                for e in contacts.values()
                if e.record.get("contact_type") == side and e.record.get("status") == "active"
            ] or [e.record for e in contacts.values()]
            number = len(self._collections[coll]) + 1 + rng.randint(0, 3)
            doc = gen.build_document(
                rng,
                meta,
                ids,
                coll,
                zoho_id,
                number,
                parties[rng.randrange(len(parties))],
                self._goods()[:400],
                now,
                now,
            )
            number_field = gen.DOC_KINDS[coll][1]
            taken = {e.record.get(number_field) for e in self._collections[coll].values()}
            while doc[number_field] in taken:
                number += 1
                doc[number_field] = f"{gen.DOC_KINDS[coll][2]}{number:06d}"
            doc["status"] = "draft" if rng.random() < 0.5 else doc["status"]
            gen.finalize_document(doc, coll)
            return doc
        if coll in ("customerpayments", "vendorpayments"):
            side = "customer" if coll == "customerpayments" else "vendor"
            parties = [e.record for e in contacts.values() if e.record.get("contact_type") == side]
            party = parties[rng.randrange(len(parties))]
            build = gen.build_customer_payment if side == "customer" else gen.build_vendor_payment
            # an advance payment: applying it would silently change invoices the caller did not touch
            return build(rng, meta, zoho_id, len(self._collections[coll]) + 1, party, [], now, now)
        if coll == "pricebooks":
            spec = (
                f"Price List {len(self._collections['pricebooks']) + 1}",
                "per_item",
                0.1,
                (0.9, 1.1),
                "Created in the sandbox",
            )
            return gen.build_pricebook(rng, ids, zoho_id, spec, self._goods(), now, now)
        if coll == "locations":
            spec = (f"Branch {len(self._collections['locations']) + 1}", "Najaf", "Najaf", "NA", "Kufa Street", False)
            return gen.build_location(zoho_id, spec, now, now)
        if coll in more.KINDS:
            vendors = [e.record for e in contacts.values() if e.record.get("contact_type") == "vendor"]
            number = len(self._collections[coll]) + 1
            record = more.build(coll, rng, meta, ids, zoho_id, number, self._goods()[:400], vendors, now, now)
            number_field, prefix = more.KINDS[coll][1], more.KINDS[coll][2]
            if number_field:
                taken = {e.record.get(number_field) for e in self._collections[coll].values()}
                while record[number_field] in taken:
                    number += 1
                    record[number_field] = f"{prefix}{number:05d}"
            return record
        raise UnknownEntity(entity)

    def delete(self, entity: str, zoho_id: str) -> Change:
        """Remove a record from every list; its detail GET answers 1002 afterwards."""
        with self.lock:
            coll, entry = self._find(entity, zoho_id)
            change = self._change(entity, coll, "delete", entry)
            del self._collections[coll][str(zoho_id)]
            self._graveyard[(coll, str(zoho_id))] = change.record
            while len(self._graveyard) > 5000:
                self._graveyard.popitem(last=False)
            if coll == "items":
                # Zoho drops a deleted item from its price lists
                for book in self._collections["pricebooks"].values():
                    entries = book.record.get("pricebook_items") or []
                    if any(e.get("item_id") == zoho_id for e in entries):
                        book.record = {
                            **book.record,
                            "pricebook_items": [e for e in entries if e.get("item_id") != zoho_id],
                        }
                self._rebuild_price_index()
            if coll == "pricebooks":
                self._rebuild_price_index()
            return change

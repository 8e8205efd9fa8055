"""The sandbox's later modules: inventory adjustments, transfer orders, composite items, item groups, vendor credits.

Shaped as Zoho's OpenAPI specification gives them (`zoho-openapi/*.yml`): the same field
names, list and record keys and paths. Small counts (tens of records each at scale 1) keep
`make run` and the end-to-end tests quick. They are generated after every other module from
their own random streams, so the records of the other modules stay byte-identical.
"""

from __future__ import annotations

import random
from typing import Any

from zoho_sandbox.generator import (
    BASE_CURRENCY,
    CURRENCIES,
    DAY,
    SEED_EPOCH,
    GeneratedOrg,
    IdAllocator,
    OrgMeta,
    Seeded,
    fmt_date,
    fmt_time,
    num,
    round_price,
)

#: Zoho module → (id field, number field or "", number prefix, webhook / detail key)
KINDS = {
    "inventoryadjustments": ("inventory_adjustment_id", "", "", "inventory_adjustment"),
    "transferorders": ("transfer_order_id", "transfer_order_number", "TO-", "transfer_order"),
    "compositeitems": ("composite_item_id", "", "", "composite_item"),
    "itemgroups": ("group_id", "", "", "itemgroup"),
    "vendorcredits": ("vendor_credit_id", "vendor_credit_number", "DN-", "vendor_credit"),
}
BASE_COUNTS = {"inventoryadjustments": 40, "transferorders": 30, "compositeitems": 20, "itemgroups": 15,
               "vendorcredits": 30}
#: Zoho answers a composite item's and an item group's detail GET with the record at the top level.
BARE_DETAIL = frozenset({"compositeitems", "itemgroups"})
REASONS = ("Damaged goods", "Stock count correction", "Theft or loss", "Expired stock", "Found in recount")
COMBO_WORDS = ("Starter Kit", "Office Bundle", "Gaming Combo", "CCTV Package", "Network Kit")
GROUP_ATTRIBUTES = ("Size", "Colour", "Length", "Capacity")


def scaled(scale: float) -> dict[str, int]:
    return {k: max(3, round(v * scale)) for k, v in BASE_COUNTS.items()}


def _lines_items(rng: random.Random, goods: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    if not goods:
        return []
    return [goods[rng.randrange(len(goods))] for _ in range(n)]


def _custom(meta: OrgMeta, label: str, value: str) -> list[dict[str, Any]]:
    """Zoho's `custom_fields[]` entry as the spec documents it (`customfield_id`, `label`, `value`)."""
    api_name = "cf_" + label.lower().replace(" ", "_")
    return [{"customfield_id": meta.custom_field_ids.get("cf_warranty", "2646610000100000001"), "label": label,
             "api_name": api_name, "value": value, "value_formatted": value, "data_type": "string"}]


def build_inventory_adjustment(rng: random.Random, meta: OrgMeta, ids: IdAllocator, zoho_id: str, n: int,
                               goods: list[dict[str, Any]], created: int, modified: int) -> dict[str, Any]:
    location_id = rng.choice(list(meta.location_names))
    kind = "quantity" if rng.random() < 0.85 else "value"
    lines = []
    for order, item in enumerate(_lines_items(rng, goods, rng.randint(1, 4)), start=1):
        qty = rng.choice((-5, -2, -1, 1, 2, 3, 10))
        cost = float(item.get("purchase_rate") or 1000)
        line = {
            "line_item_id": ids.sub(),
            "item_id": item["item_id"],
            "item_order": order,
            "name": item["name"],
            "sku": item.get("sku", ""),
            "description": "",
            "unit": item.get("unit", "pcs"),
            "is_combo_product": False,
            "adjustment_account_id": meta.purchase_account.id,
            "adjustment_account_name": meta.purchase_account.name,
            "location_id": location_id,
            "location_name": meta.location_names[location_id],
        }
        if kind == "quantity":
            line["quantity_adjusted"] = qty
            line["item_total"] = num(qty * cost)
        else:
            line["value_adjusted"] = num(qty * cost / 10)
            line["item_total"] = line["value_adjusted"]
        lines.append(line)
    return {
        "inventory_adjustment_id": zoho_id,
        "date": fmt_date(created),
        "reason": rng.choice(REASONS),
        "reason_id": meta.inventory_account.id,
        "description": f"Adjustment {n}",
        "reference_number": f"REF-IA-{n:05d}",
        "adjustment_type": kind,
        "status": "adjusted" if rng.random() < 0.9 else "draft",
        "location_id": location_id,
        "location_name": meta.location_names[location_id],
        "total": num(sum(float(li["item_total"]) for li in lines)),
        "line_items": lines,
        "custom_fields": [],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def build_transfer_order(rng: random.Random, meta: OrgMeta, ids: IdAllocator, zoho_id: str, n: int,
                         goods: list[dict[str, Any]], created: int, modified: int) -> dict[str, Any]:
    places = list(meta.location_names)
    source = rng.choice(places)
    target = rng.choice([p for p in places if p != source] or places)
    status = rng.choice(("transferred", "transferred", "in_transit", "draft"))
    lines = [
        {
            "line_item_id": ids.sub(),
            "item_id": item["item_id"],
            "item_order": order,
            "name": item["name"],
            "sku": item.get("sku", ""),
            "description": "",
            "quantity_transfer": rng.choice((1, 2, 5, 10, 20)),
            "unit": item.get("unit", "pcs"),
        }
        for order, item in enumerate(_lines_items(rng, goods, rng.randint(1, 5)), start=1)
    ]
    return {
        "transfer_order_id": zoho_id,
        "transfer_order_number": f"TO-{n:05d}",
        "date": fmt_date(created),
        "description": "Branch restock",
        "status": status,
        "from_location_id": source,
        "from_location_name": meta.location_names[source],
        "to_location_id": target,
        "to_location_name": meta.location_names[target],
        "is_intransit_order": status == "in_transit",
        "line_items": lines,
        "custom_fields": [],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def build_composite_item(rng: random.Random, meta: OrgMeta, ids: IdAllocator, zoho_id: str, n: int,
                         goods: list[dict[str, Any]], created: int, modified: int) -> dict[str, Any]:
    parts = []
    seen: set[str] = set()
    for item in _lines_items(rng, goods, rng.randint(2, 4)):
        if item["item_id"] not in seen:
            seen.add(item["item_id"])
            parts.append(item)
    mapped = [
        {
            "line_item_id": ids.sub(),
            "item_id": item["item_id"],
            "item_order": order,
            "name": item["name"],
            "sku": item.get("sku", ""),
            "unit": item.get("unit", "pcs"),
            "description": "",
            "quantity": rng.choice((1, 1, 2, 3)),
            "rate": item.get("rate", 0),
            "purchase_rate": item.get("purchase_rate", 0),
            "is_combo_product": False,
        }
        for order, item in enumerate(parts, start=1)
    ]
    rate = round_price(sum(float(m["rate"] or 0) * m["quantity"] for m in mapped) * rng.uniform(0.85, 0.97))
    cost = round_price(sum(float(m["purchase_rate"] or 0) * m["quantity"] for m in mapped))
    stock = rng.randint(0, 30)
    name = f"{rng.choice(COMBO_WORDS)} {n}"
    category = next(iter(meta.category_ids))
    return {
        "composite_item_id": zoho_id,
        "name": name,
        "sku": f"KIT-{n:04d}",
        "unit": "set",
        "status": "active" if rng.random() < 0.9 else "inactive",
        "source": "user",
        "description": f"{name}: {', '.join(m['name'] for m in mapped)}",
        "rate": rate,
        "purchase_rate": cost,
        "tax_name": meta.tax.name,
        "tax_percentage": meta.tax.extra.get("percentage", 0),
        "is_combo_product": True,
        "combo_type": "assembly" if rng.random() < 0.7 else "kit",
        "item_type": "inventory",
        "product_type": "goods",
        "is_taxable": True,
        "stock_on_hand": stock,
        "available_stock": stock,
        "actual_available_stock": stock,
        "reorder_level": 2,
        "brand": "TSH",
        "manufacturer": "TSH Assembly",
        "category_id": meta.category_ids[category],
        "category_name": category,
        "ean": str(2_000_000_000_000 + int(zoho_id[-9:])),
        "upc": "",
        "isbn": "",
        "part_number": f"TSH-KIT-{n:04d}",
        "image_name": "",
        "custom_fields": _custom(meta, "Warranty", rng.choice(("6 Months", "1 Year"))),
        "mapped_items": mapped,
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def build_item_group(rng: random.Random, meta: OrgMeta, ids: IdAllocator, zoho_id: str, n: int,
                     goods: list[dict[str, Any]], created: int, modified: int) -> dict[str, Any]:
    members = []
    seen: set[str] = set()
    for item in _lines_items(rng, goods, rng.randint(2, 5)):
        if item["item_id"] not in seen:
            seen.add(item["item_id"])
            members.append(item)
    attribute = rng.choice(GROUP_ATTRIBUTES)
    brand = members[0].get("brand", "TSH") if members else "TSH"
    return {
        "group_id": zoho_id,
        "group_name": f"{brand} {attribute} range {n}",
        "product_type": "goods",
        "brand": brand,
        "manufacturer": brand,
        "unit": members[0].get("unit", "pcs") if members else "pcs",
        "description": f"{attribute} variants",
        "is_taxable": True,
        "tax_id": meta.tax.id,
        "tax_name": meta.tax.name,
        "tax_percentage": meta.tax.extra.get("percentage", 0),
        "attribute_id1": meta.inventory_account.id,
        "attribute_name1": attribute,
        "status": "active" if rng.random() < 0.9 else "inactive",
        "image_name": "",
        "custom_fields": [],
        "items": [
            {
                "item_id": item["item_id"],
                "name": item["name"],
                "status": item.get("status", "active"),
                "rate": item.get("rate", 0),
                "purchase_rate": item.get("purchase_rate", 0),
                "sku": item.get("sku", ""),
                "stock_on_hand": item.get("stock_on_hand", 0),
                "attribute_option_name1": f"{attribute} {i}",
            }
            for i, item in enumerate(members, start=1)
        ],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def build_vendor_credit(rng: random.Random, meta: OrgMeta, ids: IdAllocator, zoho_id: str, n: int,
                        goods: list[dict[str, Any]], vendor: dict[str, Any], created: int,
                        modified: int) -> dict[str, Any]:
    currency = vendor.get("currency_code") or BASE_CURRENCY
    rate_to_bcy = 1 if currency == BASE_CURRENCY else 1310
    location_id = meta.primary_location_id if rng.random() < 0.7 else rng.choice(list(meta.location_names))
    lines = []
    for order, item in enumerate(_lines_items(rng, goods, rng.randint(1, 3)), start=1):
        qty = rng.choice((1, 1, 2, 5))
        bcy = float(item.get("purchase_rate") or 1000)
        price = round_price(bcy / rate_to_bcy, currency) if rate_to_bcy != 1 else num(bcy)
        line_location = location_id if rng.random() < 0.8 else rng.choice(list(meta.location_names))
        lines.append({
            "line_item_id": ids.sub(),
            "item_id": item["item_id"],
            "item_order": order,
            "name": item["name"],
            "sku": item.get("sku", ""),
            "description": "",
            "unit": item.get("unit", "pcs"),
            "quantity": qty,
            "rate": price,
            "bcy_rate": num(bcy),
            "tax_percentage": 0,
            "item_total": num(float(price) * qty),
            "account_id": meta.purchase_account.id,
            "account_name": meta.purchase_account.name,
            "location_id": line_location,
            "location_name": meta.location_names[line_location],
        })
    sub_total = num(sum(float(li["item_total"]) for li in lines))
    percent = rng.random() < 0.3
    discount_amount = num(float(sub_total) * 0.05) if percent else 0
    total = num(float(sub_total) - float(discount_amount))
    status = rng.choice(("open", "open", "closed", "draft"))
    used = total if status == "closed" else 0
    return {
        "vendor_credit_id": zoho_id,
        "vendor_credit_number": f"DN-{n:05d}",
        "date": fmt_date(created),
        "status": status,
        "reference_number": f"RMA-{n:04d}",
        "vendor_id": vendor["contact_id"],
        "vendor_name": vendor["contact_name"],
        "currency_id": CURRENCIES[currency]["currency_id"],
        "currency_code": currency,
        "exchange_rate": rate_to_bcy,
        "price_precision": CURRENCIES[currency]["precision"],
        "is_inclusive_tax": rng.random() < 0.2,
        "location_id": location_id,
        "location_name": meta.location_names[location_id],
        "discount": "5%" if percent else 0,
        "discount_amount": discount_amount,
        "line_items": lines,
        "custom_fields": _custom(meta, "Return Reason", rng.choice(("Damaged in transit", "Wrong item"))),
        "sub_total": sub_total,
        "total": total,
        "total_credits_used": used,
        "total_refunded_amount": 0,
        "balance": num(float(total) - float(used)),
        "notes": "",
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def build(kind: str, rng: random.Random, meta: OrgMeta, ids: IdAllocator, zoho_id: str, n: int,
          goods: list[dict[str, Any]], vendors: list[dict[str, Any]], created: int, modified: int) -> dict[str, Any]:
    """One new record of a later module (what `create` and the seed both use)."""
    if kind == "vendorcredits":
        vendor = vendors[rng.randrange(len(vendors))]
        return build_vendor_credit(rng, meta, ids, zoho_id, n, goods, vendor, created, modified)
    builder = {
        "inventoryadjustments": build_inventory_adjustment,
        "transferorders": build_transfer_order,
        "compositeitems": build_composite_item,
        "itemgroups": build_item_group,
    }[kind]
    return builder(rng, meta, ids, zoho_id, n, goods, created, modified)


def mutate(kind: str, rng: random.Random, record: dict[str, Any]) -> None:
    """A user's edit: a description, a status, a quantity (derived totals kept coherent)."""
    if kind == "inventoryadjustments":
        record["description"] = f"{record.get('description') or 'Adjustment'} (reviewed)"[:200]
        record["status"] = "adjusted"
    elif kind == "transferorders":
        if record.get("status") != "transferred":
            record["status"] = "transferred"
            record["is_intransit_order"] = False
        else:
            record["description"] = rng.choice(("Branch restock", "Urgent restock", "Season rotation"))
    elif kind == "compositeitems":
        mapped = [dict(m) for m in record.get("mapped_items") or []]
        if mapped:
            mapped[0]["quantity"] = int(mapped[0].get("quantity") or 1) + 1
            record["mapped_items"] = mapped
        record["rate"] = round_price(float(record.get("rate") or 1000) * rng.uniform(0.95, 1.08))
    elif kind == "itemgroups":
        record["description"] = rng.choice(("Size variants", "Colour variants", "New range"))
    elif kind == "vendorcredits":
        if record.get("status") == "draft":
            record["status"] = "open"
        else:
            record["reference_number"] = f"RMA-{rng.randint(1, 9999):04d}"


def generate(org: GeneratedOrg, seed: int, scale: float) -> None:
    """Add the later modules to a generated organisation (their own streams: the others stay as they were)."""
    items = [s.record for s in org.collections.get("items", [])]
    goods = [r for r in items if r.get("product_type") == "goods" and r.get("status") == "active"] or items
    vendors = [s.record for s in org.collections.get("contacts", []) if s.record.get("contact_type") == "vendor"]
    rng_ids = random.Random(f"{seed}:more-ids")
    for kind, count in scaled(scale).items():
        rng = random.Random(f"{seed}:{kind}")
        times = sorted(int(rng.uniform(SEED_EPOCH - 200 * DAY, SEED_EPOCH - 3600)) for _ in range(count))
        seeded = []
        for n, created in enumerate(times, start=1):
            modified = created if rng.random() < 0.5 else min(SEED_EPOCH, created + int(20 * DAY * rng.random()))
            zoho_id = org.ids.main(rng_ids)
            record = build(kind, rng, org.meta, org.ids, zoho_id, n, goods, vendors, created, modified)
            seeded.append(Seeded(record, created, modified))
        org.collections[kind] = seeded

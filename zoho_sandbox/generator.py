"""How TSH's Zoho organisation looks and changes: deterministic record builders and user-like edits.

Everything here is pure record-shaping: `generate_org` builds the seeded organisation
(one `random.Random` per record kind, so changing the scale of one kind does not
reshuffle another), and the `mutate_*` / `finalize_*` functions edit a record the way
a person in Zoho would, keeping totals, `*_formatted` twins and stock sums coherent.
The store in `data.py` decides *when* these run and keeps them thread-safe.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Any

ORG_TZ = dt.timezone(dt.timedelta(hours=3))
#: The fixed "now" of the seeded data: every seeded timestamp lies in the year before it.
SEED_EPOCH = int(dt.datetime(2026, 10, 1, 9, 0, 0, tzinfo=ORG_TZ).timestamp())
DAY = 86_400
ID_PREFIX = "2646610000"
DEFAULT_ORG_ID = "748369814"
PRIMARY_LOCATION_ID = "2646610000000077024"  # TSH's real main warehouse id
BASE_CURRENCY = "IQD"
USD_RATE = 1310.0
CURRENCIES = {
    "IQD": {"currency_id": "2646610000000000099", "currency_symbol": "IQD", "precision": 0},
    "USD": {"currency_id": "2646610000000000101", "currency_symbol": "$", "precision": 2},
}

BASE_COUNTS = {
    "items": 2200,
    "customers": 2500,
    "vendors": 80,
    "invoices": 600,
    "bills": 150,
    "creditnotes": 60,
    "salesorders": 200,
    "purchaseorders": 80,
    "customerpayments": 400,
    "vendorpayments": 100,
}
MIN_COUNTS = {"items": 12, "customers": 6}

# ---------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------


_OFFSET = 3 * 3600  # the organisation's fixed +0300 (Iraq has no daylight saving)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_time(ts: float) -> str:
    """Zoho's timestamp form: `2026-09-04T13:59:16+0300` (offset without colon)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0300", time.gmtime(int(ts) + _OFFSET))


def fmt_date(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(ts) + _OFFSET))


def date_to_ts(date: str) -> int:
    year, month, day = (int(x) for x in date.split("-"))
    return calendar.timegm((year, month, day, 0, 0, 0)) - _OFFSET


def display_date(date: str) -> str:
    """`2026-09-04` → `04 Sep 2026`, the `*_formatted` form of a date."""
    if not date:
        return ""
    year, month, day = date.split("-")
    return f"{day} {_MONTHS[int(month) - 1]} {year}"


def num(value: float) -> float | int:
    """Whole amounts as JSON integers (as Zoho prints IQD), others rounded to 2 places."""
    value = round(float(value), 2)
    return int(value) if value.is_integer() else value


def money(amount: Any, currency: str) -> str:
    """The `*_formatted` twin of an amount (`IQD25,000`, `$12.50`)."""
    if amount in ("", None):
        return ""
    if currency == "USD":
        return f"${float(amount):,.2f}"
    return f"{currency}{float(amount):,.0f}"


def round_price(value: float, currency: str = BASE_CURRENCY) -> float | int:
    """IQD prices snap to 250 dinars; USD to cents."""
    if currency == "USD":
        return num(round(value, 2))
    return num(max(250, round(value / 250) * 250))


class IdAllocator:
    """19-digit ids with TSH's `2646610000` prefix, unique across every record kind.

    Main records draw from one increasing counter (so ids follow creation order, as
    Zoho's do); sub-records (line items, custom fields, documents) from a separate,
    higher range so the two never collide.
    """

    def __init__(self, main: int = 80_000, sub: int = 100_000_000) -> None:
        self._main = main
        self._sub = sub

    def main(self, rng: random.Random | None = None) -> str:
        self._main += rng.randint(1, 37) if rng is not None else 7
        return f"{ID_PREFIX}{self._main:09d}"

    def sub(self) -> str:
        self._sub += 1
        return f"{ID_PREFIX}{self._sub:09d}"

    def ensure_above(self, zoho_id: str) -> None:
        """Keep later ids above one that was fixed by hand (or supplied by a caller)."""
        tail = zoho_id[len(ID_PREFIX) :] if zoho_id.startswith(ID_PREFIX) else ""
        if tail.isdigit() and len(zoho_id) == 19:
            value = int(tail)
            if value < 100_000_000:
                self._main = max(self._main, value)
            else:
                self._sub = max(self._sub, value)


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

# (category, code, brands, [(english, arabic, unit, low IQD, high IQD, variants)])
CATALOGUE: list[tuple[str, str, tuple[str, ...], list[tuple[str, str, str, int, int, tuple[str, ...]]]]] = [
    (
        "Cables",
        "CBL",
        ("Ugreen", "Baseus", "Anker", "Orico", "Vention", "Green Lion"),
        [
            ("HDMI Cable", "كيبل HDMI", "pcs", 4_000, 30_000, ("1m", "1.5m", "2m", "3m", "5m", "10m")),
            ("USB-C Cable", "كيبل تايب سي", "pcs", 3_000, 25_000, ("1m", "2m", "60W", "100W")),
            ("Lightning Cable", "كيبل آيفون", "pcs", 4_000, 28_000, ("1m", "2m", "Braided")),
            ("Network Cable Cat6", "كيبل شبكة Cat6", "roll", 45_000, 160_000, ("100m", "305m", "Outdoor 305m")),
            ("VGA Cable", "كيبل VGA", "pcs", 3_000, 12_000, ("1.5m", "3m", "5m")),
            ("Power Cable", "كيبل باور", "pcs", 2_000, 8_000, ("1.5m", "3m")),
        ],
    ),
    (
        "Networking",
        "NET",
        ("TP-Link", "Tenda", "D-Link", "Mercusys", "Ubiquiti", "MikroTik"),
        [
            ("Router", "راوتر", "pcs", 25_000, 260_000, ("N300", "AC1200", "AX1500", "AX3000")),
            ("Switch", "سويج", "pcs", 18_000, 420_000, ("5 Port", "8 Port", "16 Port", "24 Port PoE")),
            ("Access Point", "اكسس بوينت", "pcs", 45_000, 300_000, ("Indoor", "Outdoor", "Ceiling")),
            ("Range Extender", "مقوي شبكة", "pcs", 20_000, 90_000, ("N300", "AC750", "AX1800")),
            ("USB WiFi Adapter", "كارت شبكة USB", "pcs", 9_000, 45_000, ("N150", "AC600", "AX900")),
        ],
    ),
    (
        "Computer Peripherals",
        "PER",
        ("Logitech", "HP", "Lenovo", "Redragon", "Havit", "A4Tech"),
        [
            ("Mouse", "ماوس", "pcs", 5_000, 85_000, ("Wired", "Wireless", "Gaming", "Silent")),
            ("Keyboard", "كيبورد", "pcs", 10_000, 150_000, ("Arabic/English", "Wireless", "Gaming RGB")),
            ("Webcam", "كاميرا ويب", "pcs", 20_000, 180_000, ("720p", "1080p", "2K")),
            ("Headset", "سماعة رأس", "pcs", 12_000, 200_000, ("USB", "3.5mm", "Gaming 7.1")),
            ("Mouse Pad", "ماوس باد", "pcs", 2_000, 25_000, ("Small", "Large", "XXL RGB")),
        ],
    ),
    (
        "Storage",
        "STO",
        ("SanDisk", "Kingston", "Samsung", "Lexar", "Seagate", "WD"),
        [
            ("Flash Drive", "فلاش ميموري", "pcs", 6_000, 60_000, ("16GB", "32GB", "64GB", "128GB", "256GB")),
            ("Memory Card", "كارت ذاكرة", "pcs", 7_000, 70_000, ("32GB", "64GB", "128GB", "256GB")),
            ("External Hard Disk", "هارد خارجي", "pcs", 80_000, 260_000, ("1TB", "2TB", "4TB")),
            ("SSD", "هارد SSD", "pcs", 35_000, 220_000, ("256GB", "512GB", "1TB", "2TB")),
        ],
    ),
    (
        "Power",
        "PWR",
        ("Anker", "Baseus", "Xiaomi", "APC", "Green Lion", "Porodo"),
        [
            ("Charger", "شاحن", "pcs", 8_000, 75_000, ("20W", "33W", "65W", "100W")),
            ("Power Bank", "باور بانك", "pcs", 20_000, 110_000, ("10000mAh", "20000mAh", "30000mAh")),
            ("UPS", "يو بي اس", "pcs", 90_000, 450_000, ("650VA", "1000VA", "1500VA", "3000VA")),
            ("Extension Socket", "وصلة كهرباء", "pcs", 6_000, 35_000, ("3 Way", "4 Way", "6 Way USB")),
        ],
    ),
    (
        "Audio",
        "AUD",
        ("JBL", "Sony", "Xiaomi", "Havit", "Edifier"),
        [
            ("Bluetooth Speaker", "سماعة بلوتوث", "pcs", 15_000, 250_000, ("Mini", "Portable", "Party")),
            ("Earbuds", "سماعات أذن لاسلكية", "pcs", 12_000, 180_000, ("TWS", "ANC", "Sport")),
            ("Microphone", "مايكروفون", "pcs", 15_000, 160_000, ("USB", "Lavalier", "Studio")),
        ],
    ),
    (
        "CCTV",
        "CAM",
        ("Hikvision", "Dahua", "Imou", "Ezviz"),
        [
            ("IP Camera", "كاميرا مراقبة", "pcs", 45_000, 300_000, ("2MP Dome", "4MP Bullet", "8MP PTZ")),
            ("NVR", "جهاز تسجيل NVR", "pcs", 90_000, 600_000, ("4 Channel", "8 Channel", "16 Channel")),
            ("DVR", "جهاز تسجيل DVR", "pcs", 60_000, 350_000, ("4 Channel", "8 Channel")),
        ],
    ),
    (
        "Mobile Accessories",
        "MOB",
        ("Baseus", "Porodo", "Green Lion", "Ugreen", "Spigen"),
        [
            ("Phone Holder", "حامل موبايل", "pcs", 4_000, 30_000, ("Car Vent", "Desk", "Magnetic")),
            ("Screen Protector", "شاشة حماية", "pcs", 2_000, 15_000, ("iPhone 15", "Galaxy S24", "Redmi Note 13")),
            ("Phone Case", "كفر موبايل", "pcs", 3_000, 25_000, ("iPhone 15 Pro", "Galaxy A55", "Clear")),
        ],
    ),
]
SERVICES = [
    ("Installation Service", "خدمة تنصيب", 25_000),
    ("Network Setup", "تنصيب شبكة", 75_000),
    ("Maintenance Visit", "زيارة صيانة", 30_000),
    ("Delivery Charge", "أجور توصيل", 5_000),
    ("Warranty Extension", "تمديد ضمان", 20_000),
    ("CCTV Configuration", "برمجة كاميرات", 40_000),
]
WARRANTIES = ("6 Months", "1 Year", "2 Years", "No Warranty")
FIRST_NAMES = [
    ("Ahmed", "أحمد"),
    ("Mohammed", "محمد"),
    ("Ali", "علي"),
    ("Hussein", "حسين"),
    ("Hassan", "حسن"),
    ("Omar", "عمر"),
    ("Mustafa", "مصطفى"),
    ("Abbas", "عباس"),
    ("Karrar", "كرار"),
    ("Haider", "حيدر"),
    ("Zainab", "زينب"),
    ("Fatima", "فاطمة"),
    ("Noor", "نور"),
    ("Sara", "سارة"),
    ("Maryam", "مريم"),
    ("Yousif", "يوسف"),
    ("Ammar", "عمار"),
    ("Saif", "سيف"),
    ("Mahdi", "مهدي"),
    ("Qasim", "قاسم"),
    ("Murtadha", "مرتضى"),
    ("Sajjad", "سجاد"),
    ("Hawraa", "حوراء"),
    ("Duaa", "دعاء"),
    ("Bilal", "بلال"),
]
LAST_NAMES = [
    ("Al-Janabi", "الجنابي"),
    ("Al-Obaidi", "العبيدي"),
    ("Al-Tamimi", "التميمي"),
    ("Al-Saadi", "الساعدي"),
    ("Al-Khafaji", "الخفاجي"),
    ("Al-Rubaie", "الربيعي"),
    ("Al-Jubouri", "الجبوري"),
    ("Al-Dulaimi", "الدليمي"),
    ("Al-Zubaidi", "الزبيدي"),
    ("Al-Musawi", "الموسوي"),
    ("Al-Hashimi", "الهاشمي"),
    ("Al-Shammari", "الشمري"),
    ("Al-Bayati", "البياتي"),
    ("Al-Kaabi", "الكعبي"),
    ("Al-Maliki", "المالكي"),
    ("Al-Azzawi", "العزاوي"),
]
BUSINESS_KINDS = [
    ("Computer Center", "مركز {} للحاسبات"),
    ("Mobile Store", "محل {} للموبايل"),
    ("for General Trading", "شركة {} للتجارة العامة"),
    ("Electronics", "{} للالكترونيات"),
    ("Networks", "{} للشبكات"),
    ("Office Supplies", "{} للقرطاسية والمستلزمات المكتبية"),
]
BUSINESS_WORDS = [
    ("Al-Noor", "النور"),
    ("Al-Rafidain", "الرافدين"),
    ("Babylon", "بابل"),
    ("Dijla", "دجلة"),
    ("Al-Furat", "الفرات"),
    ("Sumer", "سومر"),
    ("Ashur", "آشور"),
    ("Al-Salam", "السلام"),
    ("Al-Amal", "الأمل"),
    ("Al-Mustaqbal", "المستقبل"),
    ("Al-Waha", "الواحة"),
    ("Al-Qimma", "القمة"),
    ("Al-Zahraa", "الزهراء"),
    ("Al-Hadi", "الهادي"),
    ("Smart", "سمارت"),
]
CITIES = [
    ("Baghdad", "Baghdad", "BG", "10001"),
    ("Basra", "Basra", "BA", "61001"),
    ("Erbil", "Erbil", "AR", "44001"),
    ("Najaf", "Najaf", "NA", "54001"),
    ("Karbala", "Karbala", "KA", "56001"),
    ("Mosul", "Nineveh", "NI", "41001"),
    ("Sulaymaniyah", "Sulaymaniyah", "SU", "46001"),
    ("Kirkuk", "Kirkuk", "KI", "36001"),
    ("Hillah", "Babil", "BB", "51001"),
    ("Nasiriyah", "Dhi Qar", "DQ", "64001"),
    ("Diwaniyah", "Al-Qadisiyah", "QA", "58001"),
    ("Kut", "Wasit", "WA", "52001"),
    ("Ramadi", "Anbar", "AN", "31001"),
    ("Duhok", "Duhok", "DA", "42001"),
    ("Amarah", "Maysan", "MA", "62001"),
]
STREETS = (
    "Al-Rasheed Street",
    "Al-Karrada Street 62",
    "Palestine Street",
    "Al-Mansour Street 14",
    "Al-Saadoun Street",
    "Al-Jadriya",
    "Al-Sinaa Street",
    "Al-Kindi Street",
    "100m Street",
    "Al-Ashar Corniche",
    "Hay Al-Jamia",
)
VENDOR_PLACES = [
    ("Shenzhen {} Technology Co., Ltd", "Shenzhen", "Guangdong", "China", "USD"),
    ("Guangzhou {} Electronics Co., Ltd", "Guangzhou", "Guangdong", "China", "USD"),
    ("{} Trading LLC", "Dubai", "Dubai", "United Arab Emirates", "USD"),
    ("{} Elektronik A.S.", "Istanbul", "Istanbul", "Turkey", "USD"),
    ("{} Company for Computers", "Baghdad", "Baghdad", "Iraq", "IQD"),
]
VENDOR_WORDS = (
    "Huaxin",
    "Golden Star",
    "Orient",
    "Tianyu",
    "Kaida",
    "Bright Way",
    "Sunrise",
    "Falcon",
    "Delta",
    "Al-Khaleej",
    "Anatolia",
    "Pioneer",
    "Everest",
    "Jade",
    "Zenith",
    "Atlas",
    "Nova",
    "Mega",
)
PAYMENT_TERMS = [(0, "Due on Receipt"), (15, "Net 15"), (30, "Net 30"), (45, "Net 45"), (60, "Net 60")]
SALESPEOPLE = ("Ali Kareem", "Zahraa Hussein", "Mohammed Jasim", "Huda Salman", "Omar Faisal")
PAYMENT_MODES = ("cash", "bank transfer", "check", "Zain Cash", "FastPay")
CASH_ACCOUNTS = ("Petty Cash", "Undeposited Funds", "Rafidain Bank", "Trade Bank of Iraq")

CUSTOM_FIELDS = {
    # api_name: (label, index)
    "cf_name_ar": ("Name AR", 1),
    "cf_description_ar": ("Description AR", 2),
    "cf_warranty": ("Warranty", 3),
    "cf_branch": ("Branch", 4),  # documents: the selling / receiving branch (a spec-shaped custom field)
}


@dataclass
class Ref:
    """A fixed reference row (tax, account, custom field, …) with its generated id."""

    id: str
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class OrgMeta:
    """Ids of the organisation's settings that records point at (taxes, accounts, custom fields)."""

    custom_field_ids: dict[str, str]
    tax: Ref
    sales_account: Ref
    purchase_account: Ref
    inventory_account: Ref
    cash_accounts: list[Ref]
    unit_ids: dict[str, str]
    category_ids: dict[str, str]
    location_names: dict[str, str]
    primary_location_id: str


@dataclass
class Seeded:
    """One generated record plus the epochs the store indexes it by."""

    record: dict[str, Any]
    created: int
    modified: int
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class GeneratedOrg:
    collections: dict[str, list[Seeded]]
    ids: IdAllocator
    meta: OrgMeta


# ---------------------------------------------------------------------------
# Shared shapes
# ---------------------------------------------------------------------------


def custom_field(meta: OrgMeta, api_name: str, value: str) -> dict[str, Any]:
    label, index = CUSTOM_FIELDS[api_name]
    return {
        "customfield_id": meta.custom_field_ids[api_name],
        "index": index,
        "label": label,
        "api_name": api_name,
        "placeholder": api_name,
        "data_type": "string",
        "is_active": True,
        "show_on_pdf": False,
        "value": value,
        "value_formatted": value,
    }


def set_custom_fields(record: dict[str, Any], meta: OrgMeta, values: dict[str, str]) -> None:
    """Write custom fields in both of Zoho's shapes: `custom_fields[]` and `custom_field_hash`."""
    record["custom_fields"] = [custom_field(meta, k, v) for k, v in values.items()]
    cf_hash: dict[str, str] = {}
    for k, v in values.items():
        cf_hash[k] = v
        cf_hash[f"{k}_unformatted"] = v
    record["custom_field_hash"] = cf_hash


def custom_values(record: dict[str, Any]) -> dict[str, str]:
    return {
        cf["api_name"]: cf["value"]
        for cf in record.get("custom_fields") or []
        if isinstance(cf, dict) and cf.get("api_name")
    }


def address(rng: random.Random, attention: str = "", phone: str = "", zip_key: str = "zip") -> dict[str, Any]:
    city, state, state_code, zipcode = rng.choice(CITIES)
    return {
        "attention": attention,
        "address": f"{rng.choice(STREETS)}, Building {rng.randint(1, 120)}",
        "street2": rng.choice(("", "", f"Near {rng.choice(BUSINESS_WORDS)[0]} Mall", f"Floor {rng.randint(1, 6)}")),
        "city": city,
        "state": state,
        "state_code": state_code,
        zip_key: zipcode,
        "country": "Iraq",
        "country_code": "IQ",
        "phone": phone,
        "fax": "",
    }


def iraqi_phone(rng: random.Random, landline: bool = False) -> str:
    if landline:
        return f"+964-1-{rng.randint(400, 799)}{rng.randint(1000, 9999)}"
    return f"+964-7{rng.choice('7859')}{rng.randint(0, 9)}{rng.randint(1_000_000, 9_999_999)}"


# ---------------------------------------------------------------------------
# Locations / warehouses
# ---------------------------------------------------------------------------

LOCATIONS = [
    ("TSH Main Warehouse", "Baghdad", "Baghdad", "BG", "Al-Karrada, Street 62, Building 9", True),
    ("Basra Branch Warehouse", "Basra", "Basra", "BA", "Al-Ashar, Corniche Street", False),
    ("Erbil Showroom", "Erbil", "Erbil", "AR", "100m Street, near Family Mall", False),
]


def build_location(location_id: str, spec: tuple, created: int, modified: int) -> dict[str, Any]:
    name, city, state, state_code, street, primary = spec
    return {
        "location_id": location_id,
        "location_name": name,
        "type": "general",
        "parent_location_id": "",
        "is_primary_location": primary,
        "is_location_active": True,
        "status": "active",
        "is_storage_location_enabled": False,
        "total_zones": 0,
        "address": {
            "attention": "Warehouse Manager",
            "street_address1": street,
            "street_address2": "",
            "city": city,
            "state": state,
            "state_code": state_code,
            "country": "Iraq",
            "zip": "",
        },
        "phone": "+964-770" + location_id[-7:],
        "email": f"{city.lower()}.warehouse@tsh.sale",
        "tax_settings_id": "",
        "associated_users": [],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def location_as_warehouse(loc: dict[str, Any]) -> dict[str, Any]:
    """The legacy `/settings/warehouses` view of a location (older organisations)."""
    addr = loc.get("address") or {}
    return {
        "warehouse_id": loc["location_id"],
        "warehouse_name": loc["location_name"],
        "attention": addr.get("attention", ""),
        "address": addr.get("street_address1", ""),
        "address1": addr.get("street_address1", ""),
        "address2": addr.get("street_address2", ""),
        "city": addr.get("city", ""),
        "state": addr.get("state", ""),
        "state_code": addr.get("state_code", ""),
        "zip": addr.get("zip", ""),
        "country": addr.get("country", ""),
        "phone": loc.get("phone", ""),
        "email": loc.get("email", ""),
        "is_primary": loc.get("is_primary_location", False),
        "status": loc.get("status", "active"),
        "status_formatted": str(loc.get("status", "active")).title(),
        "total_storagelocations": 0,
        "total_zones": 0,
        "created_time": loc.get("created_time", ""),
        "last_modified_time": loc.get("last_modified_time", ""),
    }


# ---------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------

STOCK_KEYS = (
    "stock_on_hand",
    "available_stock",
    "actual_available_stock",
    "committed_stock",
    "actual_committed_stock",
    "available_for_sale_stock",
    "actual_available_for_sale_stock",
)


def location_stock(
    location_id: str, name: str, primary: bool, on_hand: float | str, committed: float | str
) -> dict[str, Any]:
    """One entry of an item's `locations[]`; `""` quantities for items that track no stock."""
    if on_hand == "":
        q = {k: "" for k in ("oh", "av", "aav", "cm", "acm", "afs", "aafs", "transit")}
    else:
        free = num(on_hand - committed)
        q = {
            "oh": num(on_hand),
            "av": num(on_hand),
            "aav": free,
            "cm": num(committed),
            "acm": num(committed),
            "afs": free,
            "aafs": free,
            "transit": 0,
        }
    return {
        "location_id": location_id,
        "location_name": name,
        "status": "active",
        "is_primary": primary,
        "location_stock_on_hand": q["oh"],
        "location_available_stock": q["av"],
        "location_actual_available_stock": q["aav"],
        "location_committed_stock": q["cm"],
        "location_actual_committed_stock": q["acm"],
        "location_available_for_sale_stock": q["afs"],
        "location_actual_available_for_sale_stock": q["aafs"],
        "location_quantity_in_transit": q["transit"],
    }


def recompute_item_stock(item: dict[str, Any]) -> None:
    """Item-level stock fields are the sums of `locations[]` (`""` when nothing is tracked)."""
    locs = item.get("locations") or []
    if not locs or all(loc.get("location_stock_on_hand") == "" for loc in locs):
        for key in STOCK_KEYS:
            item[key] = ""
        return

    def total(key: str) -> float | int:
        return num(sum(float(loc.get(key) or 0) for loc in locs))

    item["stock_on_hand"] = total("location_stock_on_hand")
    item["available_stock"] = total("location_available_stock")
    item["actual_available_stock"] = total("location_actual_available_stock")
    item["committed_stock"] = total("location_committed_stock")
    item["actual_committed_stock"] = total("location_actual_committed_stock")
    item["available_for_sale_stock"] = total("location_available_for_sale_stock")
    item["actual_available_for_sale_stock"] = total("location_actual_available_for_sale_stock")


def set_location_quantity(loc: dict[str, Any], on_hand: float, committed: float | None = None) -> dict[str, Any]:
    """A fresh `locations[]` entry with new quantities (committed clipped to what is on hand)."""
    on_hand = max(0.0, float(on_hand))
    if committed is None:
        committed = float(loc.get("location_committed_stock") or 0)
    committed = max(0.0, min(float(committed), on_hand))
    return location_stock(
        loc["location_id"], loc.get("location_name", ""), bool(loc.get("is_primary")), on_hand, committed
    )


def refresh_item_formatted(item: dict[str, Any]) -> None:
    item["rate_formatted"] = money(item.get("rate"), BASE_CURRENCY)
    item["purchase_rate_formatted"] = money(item.get("purchase_rate"), BASE_CURRENCY)


def build_item(
    rng: random.Random,
    meta: OrgMeta,
    ids: IdAllocator,
    item_id: str,
    seq: int,
    created: int,
    modified: int,
    vendors: list[dict[str, Any]],
    service: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One Zoho Inventory item (detail shape) and its store extras (image key)."""
    if service:
        en, ar, base = rng.choice(SERVICES)
        brand, category, code, unit, variant = (
            "TSH",
            "Services",
            "SRV",
            "job",
            rng.choice(("Basic", "Standard", "Premium")),
        )
        rate = round_price(base * {"Basic": 1.0, "Standard": 1.6, "Premium": 2.5}[variant])
    else:
        category, code, brands, kinds = CATALOGUE[rng.randrange(len(CATALOGUE))]
        en, ar, unit, low, high, variants = kinds[rng.randrange(len(kinds))]
        brand = rng.choice(brands)
        variant = rng.choice(variants)
        rate = round_price(rng.uniform(low, high))
    model = f"{brand[:2].upper()}{rng.randint(100, 9999)}"
    name = f"{brand} {en} {variant} {model}" if not service else f"{en} - {variant}"
    sku = f"{code}-{brand[:3].upper()}-{seq:05d}" if rng.random() > 0.01 else ""
    purchase_rate = round_price(float(rate) * rng.uniform(0.62, 0.86))
    status = "inactive" if rng.random() < 0.05 else "active"
    vendor = vendors[rng.randrange(len(vendors))] if vendors and not service else None
    taxable = rng.random() < 0.12
    has_image = not service and rng.random() < 0.85
    image_type = ("png" if rng.random() < 0.2 else "jpg") if has_image else ""
    warranty = rng.choice(WARRANTIES)
    description = (
        ""
        if rng.random() < 0.15
        else (
            f"{en} by {brand}, {variant}. Original product, {warranty.lower()} warranty."
            if not service
            else f"{en} ({variant}) performed by TSH technicians."
        )
    )
    cf: dict[str, str] = {}
    if rng.random() < 0.72:
        cf["cf_name_ar"] = f"{ar} {brand} {variant}" if not service else f"{ar} - {variant}"
    if rng.random() < 0.4:
        cf["cf_description_ar"] = f"{ar} من {brand} - منتج أصلي مع ضمان" if not service else f"{ar} من قبل فنيي الشركة"
    if not service:
        cf["cf_warranty"] = warranty

    item: dict[str, Any] = {
        "item_id": item_id,
        "name": name,
        "item_name": name,
        "sku": sku,
        "unit": unit,
        "unit_id": meta.unit_ids.get(unit, ""),
        "brand": brand,
        "manufacturer": brand,
        "category_id": meta.category_ids[category],
        "category_name": category,
        "group_id": "",
        "group_name": "",
        "status": status,
        "source": "user",
        "item_type": "sales" if service else "inventory",
        "product_type": "service" if service else "goods",
        "is_combo_product": False,
        "description": description,
        "purchase_description": description,
        "rate": rate,
        "purchase_rate": purchase_rate,
        "pricebook_rate": rate,
        "is_taxable": taxable,
        "tax_id": meta.tax.id if taxable else "",
        "tax_name": meta.tax.name if taxable else "",
        "tax_percentage": meta.tax.extra["percentage"] if taxable else 0,
        "tax_type": "tax" if taxable else "",
        "account_id": meta.sales_account.id,
        "account_name": meta.sales_account.name,
        "purchase_account_id": meta.purchase_account.id,
        "purchase_account_name": meta.purchase_account.name,
        "inventory_account_id": "" if service else meta.inventory_account.id,
        "inventory_account_name": "" if service else meta.inventory_account.name,
        "can_be_sold": True,
        "can_be_purchased": not service,
        "track_inventory": not service,
        "is_returnable": not service,
        "reorder_level": "" if service or rng.random() < 0.3 else str(rng.choice((2, 5, 10, 20, 50))),
        "vendor_id": vendor["contact_id"] if vendor else "",
        "vendor_name": vendor["contact_name"] if vendor else "",
        "upc": "" if rng.random() < 0.7 else str(rng.randint(10**11, 10**12 - 1)),
        "ean": "" if rng.random() < 0.5 else str(rng.randint(10**12, 10**13 - 1)),
        "isbn": "",
        "part_number": model,
        "hsn_or_sac": "",
        "image_name": f"{sku or item_id}.{image_type}" if has_image else "",
        "image_type": image_type,
        "image_document_id": ids.sub() if has_image else "",
        "has_attachment": has_image,
        "length": "" if service else str(rng.randint(5, 60)),
        "width": "" if service else str(rng.randint(5, 40)),
        "height": "" if service else str(rng.randint(2, 30)),
        "weight": "" if service else num(rng.uniform(0.05, 6.0)),
        "weight_unit": "kg",
        "dimension_unit": "cm",
        "zcrm_product_id": "",
        "show_in_storefront": False,
        "is_linked_with_zohocrm": False,
        "tags": [],
        "item_tax_preferences": [],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }
    set_custom_fields(item, meta, cf)
    if service:
        locs = [
            location_stock(lid, lname, lid == meta.primary_location_id, "", "")
            for lid, lname in meta.location_names.items()
        ]
    else:
        locs = []
        scale = {0: 400, 1: 90, 2: 40}
        for i, (lid, lname) in enumerate(meta.location_names.items()):
            cap = scale.get(i, 30)
            on_hand = 0 if rng.random() < 0.12 else rng.randint(1, cap)
            committed = rng.randint(0, min(on_hand, 8)) if on_hand and rng.random() < 0.3 else 0
            locs.append(location_stock(lid, lname, lid == meta.primary_location_id, on_hand, committed))
    item["locations"] = locs
    recompute_item_stock(item)
    refresh_item_formatted(item)
    extra = {"image_key": item["image_document_id"]} if has_image else {}
    return item, extra


def mutate_item(rng: random.Random, item: dict[str, Any], meta: OrgMeta, ids: IdAllocator) -> None:
    """A user edits a product: price, cost, name, Arabic text, status or picture."""
    choice = rng.random()
    if choice < 0.4:
        item["rate"] = round_price(float(item.get("rate") or 1000) * rng.uniform(0.9, 1.15))
        item["pricebook_rate"] = item["rate"]
    elif choice < 0.55:
        item["purchase_rate"] = round_price(float(item.get("purchase_rate") or 1000) * rng.uniform(0.9, 1.12))
    elif choice < 0.7:
        base = str(item.get("name") or "Item").removesuffix(" (New)").removesuffix(" V2")
        item["name"] = base + rng.choice((" (New)", " V2", ""))
        item["item_name"] = item["name"]
    elif choice < 0.82:
        values = custom_values(item)
        ar = values.get("cf_name_ar") or str(item.get("name"))
        values["cf_name_ar"] = ar.removesuffix(" - جديد") + rng.choice((" - جديد", ""))
        values["cf_description_ar"] = rng.choice(("منتج أصلي مع ضمان", "وصل حديثاً", "متوفر بكميات محدودة"))
        set_custom_fields(item, meta, values)
    elif choice < 0.9:
        item["status"] = "inactive" if item.get("status") == "active" else "active"
    elif choice < 0.95:
        item["description"] = rng.choice(("Updated specification.", "Now with 2 years warranty.", ""))
    else:
        image_type = item.get("image_type") or "jpg"
        item["image_type"] = image_type
        item["image_name"] = f"{item.get('sku') or item['item_id']}-{rng.randint(2, 9)}.{image_type}"
        item["image_document_id"] = ids.sub()
        item["has_attachment"] = True
    refresh_item_formatted(item)


def mutate_stock(rng: random.Random, item: dict[str, Any]) -> None:
    """Goods move: receipts, sales, transfers and stock counts change location quantities."""
    locs = [dict(loc) for loc in item.get("locations") or []]
    tracked = [i for i, loc in enumerate(locs) if loc.get("location_stock_on_hand") != ""]
    if not tracked:
        return
    for i in rng.sample(tracked, k=min(len(tracked), rng.choice((1, 1, 2)))):
        loc = locs[i]
        on_hand = float(loc.get("location_stock_on_hand") or 0)
        delta = rng.choice((-1, -1, -2, -5, 1, 3, 10, 24, 50)) if on_hand > 0 else rng.choice((5, 10, 24, 50))
        committed = float(loc.get("location_committed_stock") or 0)
        if rng.random() < 0.25:
            committed = rng.randint(0, 5)
        locs[i] = set_location_quantity(loc, on_hand + delta, committed)
    item["locations"] = locs
    recompute_item_stock(item)


# ---------------------------------------------------------------------------
# Contacts
# ---------------------------------------------------------------------------


def build_contact(
    rng: random.Random, meta: OrgMeta, ids: IdAllocator, contact_id: str, contact_type: str, created: int, modified: int
) -> dict[str, Any]:
    """A Books contact: customer (shop, company or person in Iraq) or vendor (mostly abroad, USD)."""
    first, first_ar = rng.choice(FIRST_NAMES)
    last, last_ar = rng.choice(LAST_NAMES)
    name_ar = ""
    if contact_type == "vendor":
        pattern, city, state, country, currency = rng.choice(VENDOR_PLACES)
        company = pattern.format(rng.choice(VENDOR_WORDS))
        contact_name = company
        sub_type = "business"
        terms = rng.choice(PAYMENT_TERMS[1:])
        addr = {
            "attention": f"{first} {last}",
            "address": f"No. {rng.randint(1, 300)} Industrial Road",
            "street2": "",
            "city": city,
            "state": state,
            "state_code": "",
            "zip": str(rng.randint(10000, 99999)),
            "country": country,
            "country_code": "",
            "phone": "",
            "fax": "",
        }
        if country == "Iraq":
            addr["country_code"] = "IQ"
    else:
        currency = "USD" if rng.random() < 0.15 else "IQD"
        terms = rng.choice(PAYMENT_TERMS)
        if rng.random() < 0.6:
            word, word_ar = rng.choice(BUSINESS_WORDS)
            kind, kind_ar = rng.choice(BUSINESS_KINDS)
            company = f"{word} {kind}"
            contact_name = company
            sub_type = "business"
            name_ar = kind_ar.format(word_ar)
        else:
            company = ""
            contact_name = f"{first} {last}"
            sub_type = "individual"
            name_ar = f"{first_ar} {last_ar}"
        addr = address(rng, attention=f"{first} {last}")
    # Names are not unique in real books; make display names unique like Zoho requires.
    contact_name = f"{contact_name} ({contact_id[-4:]})" if rng.random() < 0.08 else contact_name
    email = ""
    if rng.random() >= 0.2:
        local = f"{first.lower()}.{last.lower().replace('al-', '')}{rng.randint(1, 999)}"
        email = f"{local}@{rng.choice(('gmail.com', 'yahoo.com', 'hotmail.com', 'tsh-clients.iq'))}"
    phone = iraqi_phone(rng, landline=True) if rng.random() < 0.3 else ""
    mobile = iraqi_phone(rng)
    addr["phone"] = mobile
    status = "inactive" if rng.random() < 0.04 else "active"
    credit_limit = (
        0 if contact_type == "vendor" else rng.choice((0, 0, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000))
    )
    shipping = dict(addr) if rng.random() < 0.7 else address(rng, attention=f"{first} {last}", phone=mobile)
    contact: dict[str, Any] = {
        "contact_id": contact_id,
        "contact_name": contact_name,
        "customer_name": contact_name if contact_type == "customer" else "",
        "vendor_name": contact_name if contact_type == "vendor" else "",
        "company_name": company,
        "contact_type": contact_type,
        "contact_type_formatted": contact_type.title(),
        "customer_sub_type": sub_type,
        "status": status,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "mobile": mobile,
        "website": "",
        "language_code": "ar" if contact_type == "customer" and rng.random() < 0.5 else "en",
        "payment_terms": terms[0],
        "payment_terms_label": terms[1],
        "currency_id": CURRENCIES[currency]["currency_id"],
        "currency_code": currency,
        "currency_symbol": CURRENCIES[currency]["currency_symbol"],
        "credit_limit": credit_limit,
        "credit_limit_formatted": money(credit_limit, BASE_CURRENCY),
        "outstanding_receivable_amount": 0,
        "outstanding_receivable_amount_bcy": 0,
        "outstanding_payable_amount": 0,
        "outstanding_payable_amount_bcy": 0,
        "unused_credits_receivable_amount": 0,
        "unused_credits_receivable_amount_bcy": 0,
        "unused_credits_payable_amount": 0,
        "unused_credits_payable_amount_bcy": 0,
        "is_taxable": False,
        "tax_treatment": "",
        "portal_status": "disabled",
        "payment_reminder_enabled": contact_type == "customer",
        "has_transaction": False,
        "ach_supported": False,
        "has_attachment": False,
        "notes": "" if rng.random() < 0.85 else rng.choice(("VIP customer", "Pays in USD cash", "Deliver after 4 pm")),
        "billing_address": addr,
        "shipping_address": shipping,
        "contact_persons": [
            {
                "contact_person_id": ids.sub(),
                "salutation": "",
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone": phone,
                "mobile": mobile,
                "designation": "Owner" if contact_type == "customer" else "Sales Manager",
                "department": "",
                "is_primary_contact": True,
            }
        ],
        "default_templates": {"invoice_template_id": "", "estimate_template_id": ""},
        "created_time": fmt_time(created),
        "created_time_formatted": display_date(fmt_date(created)),
        "last_modified_time": fmt_time(modified),
        "last_modified_time_formatted": display_date(fmt_date(modified)),
    }
    cf = {}
    if contact_type == "customer" and name_ar and rng.random() < 0.55:
        cf["cf_name_ar"] = name_ar
    set_custom_fields(contact, meta, cf)
    # Spec shapes without touching the random stream (a seed keeps yielding the same organisation):
    # every third contact has a second, non-primary person (an accountant).
    if int(contact_id) % 3 == 0:
        contact["contact_persons"].append({
            "contact_person_id": ids.sub(), "salutation": "Mr.", "first_name": "Haider", "last_name": "Kareem",
            "email": f"accounts{contact_id[-4:]}@tsh-clients.iq", "phone": "", "mobile": "",
            "designation": "Accountant", "department": "Finance", "is_primary_contact": False,
        })
    return contact


def make_both(contact: dict[str, Any]) -> None:
    """A vendor that also buys from us: Zoho's `contact_type` "both" (listed as customer and as vendor)."""
    contact["contact_type"] = "both"
    contact["contact_type_formatted"] = "Both"
    contact["customer_name"] = contact["vendor_name"] = contact["contact_name"]


def mutate_contact(rng: random.Random, contact: dict[str, Any], meta: OrgMeta) -> None:
    """A user edits a contact: phone, e-mail, credit limit, payment terms, address or status."""
    choice = rng.random()
    if choice < 0.25:
        contact["mobile"] = iraqi_phone(rng)
        contact["billing_address"] = {**(contact.get("billing_address") or {}), "phone": contact["mobile"]}
    elif choice < 0.4:
        first = str(contact.get("first_name") or "contact").lower()
        contact["email"] = f"{first}{rng.randint(1, 9999)}@{rng.choice(('gmail.com', 'outlook.com', 'tsh-clients.iq'))}"
    elif choice < 0.55 and contact.get("contact_type") == "customer":
        contact["credit_limit"] = rng.choice((0, 1_000_000, 2_500_000, 5_000_000, 15_000_000))
        contact["credit_limit_formatted"] = money(contact["credit_limit"], BASE_CURRENCY)
    elif choice < 0.7:
        days, label = rng.choice(PAYMENT_TERMS)
        contact["payment_terms"], contact["payment_terms_label"] = days, label
    elif choice < 0.85:
        attention = (contact.get("billing_address") or {}).get("attention", "")
        contact["billing_address"] = address(rng, attention=attention, phone=contact.get("mobile", ""))
    elif choice < 0.92:
        contact["status"] = "inactive" if contact.get("status") == "active" else "active"
    else:
        values = custom_values(contact)
        if values.get("cf_name_ar"):
            values["cf_name_ar"] = values["cf_name_ar"].removesuffix(" (محدث)") + rng.choice((" (محدث)", ""))
        else:
            values["cf_name_ar"] = f"{rng.choice(FIRST_NAMES)[1]} {rng.choice(LAST_NAMES)[1]}"
        set_custom_fields(contact, meta, values)
        contact["notes"] = rng.choice(("", "Called about overdue balance", "Prefers WhatsApp"))


# ---------------------------------------------------------------------------
# Documents (invoices, bills, credit notes, sales and purchase orders)
# ---------------------------------------------------------------------------

DOC_KINDS = {
    # kind: (id field, number field, number prefix, party)
    "invoices": ("invoice_id", "invoice_number", "INV-", "customer"),
    "bills": ("bill_id", "bill_number", "BILL-", "vendor"),
    "creditnotes": ("creditnote_id", "creditnote_number", "CN-", "customer"),
    "salesorders": ("salesorder_id", "salesorder_number", "SO-", "customer"),
    "purchaseorders": ("purchaseorder_id", "purchaseorder_number", "PO-", "vendor"),
}
DOC_STATUSES = {
    "invoices": (("draft", 4), ("sent", 30), ("void", 3)),  # paid/partially_paid/overdue follow payments
    "bills": (("draft", 4), ("open", 50), ("void", 2)),
    "creditnotes": (("draft", 5), ("open", 40), ("void", 3)),
    "salesorders": (
        ("draft", 10),
        ("open", 35),
        ("invoiced", 40),
        ("partially_invoiced", 8),
        ("void", 4),
        ("closed", 3),
    ),
    "purchaseorders": (
        ("draft", 10),
        ("open", 30),
        ("billed", 45),
        ("partially_billed", 8),
        ("cancelled", 4),
        ("closed", 3),
    ),
}


def weighted(rng: random.Random, pairs: tuple[tuple[str, int], ...]) -> str:
    total = sum(w for _, w in pairs)
    pick = rng.uniform(0, total)
    for value, w in pairs:
        pick -= w
        if pick <= 0:
            return value
    return pairs[-1][0]


def build_line(
    rng: random.Random,
    meta: OrgMeta,
    ids: IdAllocator,
    item: dict[str, Any] | None,
    order: int,
    currency: str,
    exchange_rate: float,
    kind: str,
) -> dict[str, Any]:
    """One `line_items[]` entry; bills sometimes carry an account-only line without an item."""
    vendor_side = DOC_KINDS[kind][3] == "vendor"
    if item is None:
        name, sku, item_id, unit, bcy_rate = (
            "Freight & Customs",
            "",
            "",
            "",
            float(rng.choice((50_000, 125_000, 400_000))),
        )
        tax_pct, tax_id, tax_name, product_type = 0, "", "", "service"
    else:
        name, sku, item_id, unit = item["name"], item.get("sku", ""), item["item_id"], item.get("unit", "pcs")
        bcy_rate = float(item.get("purchase_rate" if vendor_side else "rate") or 0)
        tax_pct = item.get("tax_percentage") or 0
        tax_id, tax_name, product_type = (
            item.get("tax_id", ""),
            item.get("tax_name", ""),
            item.get("product_type", "goods"),
        )
    rate = round_price(bcy_rate / exchange_rate, currency) if currency != BASE_CURRENCY else num(bcy_rate)
    quantity = rng.choice((1, 1, 2, 3, 5, 10, 12, 20, 24, 50)) if item is not None else 1
    discount = rng.choice((0, 0, 0, 0, 5, 10)) if not vendor_side else 0
    location_id = meta.primary_location_id if rng.random() < 0.7 else rng.choice(list(meta.location_names))
    line: dict[str, Any] = {
        "line_item_id": ids.sub(),
        "item_id": item_id,
        "name": name,
        "description": "",
        "sku": sku,
        "item_order": order,
        "product_type": product_type,
        "bcy_rate": num(bcy_rate),
        "rate": rate,
        "quantity": quantity,
        "unit": unit,
        "discount": discount,
        "discount_amount": 0,
        "tax_id": tax_id,
        "tax_name": tax_name,
        "tax_type": "tax" if tax_id else "",
        "tax_percentage": tax_pct,
        "item_total": 0,
        "account_id": (meta.purchase_account if vendor_side else meta.sales_account).id,
        "account_name": (meta.purchase_account if vendor_side else meta.sales_account).name,
        "location_id": location_id,
        "location_name": meta.location_names.get(location_id, ""),
        "hsn_or_sac": "",
        "pricebook_id": "",
        "item_custom_fields": [],
    }
    if vendor_side and item is not None:
        line["purchase_rate"] = rate  # Inventory's purchase documents price lines by purchase_rate
    if kind == "salesorders":
        line.update(quantity_invoiced=0, quantity_packed=0, quantity_shipped=0)
    elif kind == "purchaseorders":
        line.update(quantity_billed=0, quantity_received=0)
    elif kind == "bills":
        line["purchaseorder_item_id"] = ""
    elif kind == "creditnotes":
        line.update(invoice_id="", invoice_item_id="")
    return line


def finalize_document(doc: dict[str, Any], kind: str) -> None:
    """Recompute line totals, taxes, totals, balance and their `*_formatted` twins.

    The amount already settled (`total - balance` before the edit) is preserved, so an
    edited invoice keeps its payments and its balance moves with the new total.
    """
    currency = doc.get("currency_code") or BASE_CURRENCY
    settled = 0.0
    if doc.get("status") not in ("draft", "void"):
        settled = max(0.0, float(doc.get("total") or 0) - float(doc.get("balance") or 0))
    lines = []
    sub_total = 0.0
    taxes: dict[str, list] = {}
    inclusive = bool(doc.get("is_inclusive_tax"))
    for order, src in enumerate(doc.get("line_items") or [], start=1):
        line = dict(src)
        gross = float(line.get("rate") or 0) * float(line.get("quantity") or 0)
        disc = float(line.get("discount") or 0)
        line["discount_amount"] = num(gross * disc / 100)
        line["item_total"] = num(gross - gross * disc / 100)
        line["item_order"] = order
        pct = float(line.get("tax_percentage") or 0)
        if pct:
            # tax-inclusive prices carry their tax inside item_total
            amount = float(line["item_total"]) * pct / (100 + pct if inclusive else 100)
            entry = taxes.setdefault(line.get("tax_id") or "tax", [line.get("tax_name") or "Tax", 0.0])
            entry[1] += amount
            line["line_item_taxes"] = [
                {
                    "tax_id": line.get("tax_id", ""),
                    "tax_name": f"{line.get('tax_name', '')} ({pct:g}%)",
                    "tax_amount": num(amount),
                    "tax_percentage": pct,
                    "tax_specific_type": "",
                }
            ]
        else:
            line["line_item_taxes"] = []
        sub_total += float(line["item_total"])
        lines.append(line)
    tax_total = sum(t[1] for t in taxes.values())
    header = str(doc.get("discount") or "0")
    percent = float(header.rstrip("%") or 0) if header.endswith("%") else 0.0
    discount_total = round(sub_total * percent / 100, 2) if percent else float(doc.get("discount_total") or 0)
    if percent or "discount_total" in doc:
        doc["discount_total"] = num(discount_total)
        doc["discount_amount"] = num(discount_total)
    total = (sub_total - discount_total + (0.0 if inclusive else tax_total)
             + float(doc.get("shipping_charge") or 0) + float(doc.get("adjustment") or 0))
    doc["line_items"] = lines
    doc["sub_total"] = num(sub_total)
    doc["tax_total"] = num(tax_total)
    doc["total"] = num(total)
    doc["taxes"] = [
        {"tax_name": name, "tax_amount": num(amount), "tax_amount_formatted": money(num(amount), currency)}
        for name, amount in taxes.values()
    ]
    rate = float(doc.get("exchange_rate") or 1)
    doc["bcy_total"] = num(total * rate)
    doc["bcy_sub_total"] = num(sub_total * rate)
    doc["bcy_tax_total"] = num(tax_total * rate)
    if "balance" in doc:
        status = doc.get("status")
        if status == "void":
            doc["balance"] = 0
        elif status == "draft":
            doc["balance"] = num(total)
        else:
            doc["balance"] = num(max(0.0, total - settled))
        if kind in ("invoices", "bills"):
            doc["payment_made"] = num(min(settled, total)) if status not in ("draft", "void") else 0
            doc["payment_made_formatted"] = money(doc["payment_made"], currency)
    refresh_document_status(doc, kind)
    for key in ("sub_total", "tax_total", "total", "balance", "shipping_charge", "adjustment", "bcy_total"):
        if key in doc:
            doc[f"{key}_formatted"] = money(doc[key], currency)
    for key in ("date", "due_date", "shipment_date", "delivery_date"):
        if doc.get(key):
            doc[f"{key}_formatted"] = display_date(doc[key])
    doc["status_formatted"] = str(doc.get("status", "")).replace("_", " ").title()


def refresh_document_status(doc: dict[str, Any], kind: str) -> None:
    """Derive paid/partially_paid/overdue from balance and due date, as Zoho does."""
    status = doc.get("status")
    if kind not in ("invoices", "bills", "creditnotes") or status in ("draft", "void"):
        return
    total, balance = float(doc.get("total") or 0), float(doc.get("balance") or 0)
    if kind == "creditnotes":
        doc["status"] = "closed" if balance <= 0 else "open"
        return
    if balance <= 0:
        doc["status"] = "paid"
    elif balance < total:
        doc["status"] = "partially_paid"
    else:
        due = doc.get("due_date")
        # measured against the seed epoch, not the wall clock, so a seed always yields the same statuses
        overdue = bool(due) and date_to_ts(due) + DAY < SEED_EPOCH
        doc["status"] = "overdue" if overdue else ("sent" if kind == "invoices" else "open")


def build_document(
    rng: random.Random,
    meta: OrgMeta,
    ids: IdAllocator,
    kind: str,
    doc_id: str,
    number: int,
    party: dict[str, Any],
    lines_from: list[dict[str, Any]],
    created: int,
    modified: int,
) -> dict[str, Any]:
    """An invoice / bill / credit note / sales order / purchase order with 1–6 lines."""
    id_field, number_field, prefix, side = DOC_KINDS[kind]
    currency = party.get("currency_code") or BASE_CURRENCY
    if side == "customer" and rng.random() < 0.1:
        currency = "USD" if currency == "IQD" else currency
    exchange_rate = 1.0 if currency == BASE_CURRENCY else num(rng.choice((1305.0, 1310.0, 1315.0, 1320.0)))
    date = fmt_date(created)
    terms = int(party.get("payment_terms") or 0)
    n_lines = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6))
    lines = []
    for i in range(n_lines):
        item = lines_from[rng.randrange(len(lines_from))] if lines_from else None
        if kind == "bills" and rng.random() < 0.05:
            item = None
        lines.append(build_line(rng, meta, ids, item, i + 1, currency, exchange_rate, kind))
    party_name = party["contact_name"]
    status = weighted(rng, DOC_STATUSES[kind])
    doc: dict[str, Any] = {
        id_field: doc_id,
        number_field: f"{prefix}{number:06d}",
        "reference_number": "" if rng.random() < 0.6 else f"REF-{rng.randint(1000, 99999)}",
        "date": date,
        "status": status,
        f"{side}_id": party["contact_id"],
        f"{side}_name": party_name,
        "company_name": party.get("company_name", ""),
        "email": party.get("email", ""),
        "currency_id": CURRENCIES[currency]["currency_id"],
        "currency_code": currency,
        "currency_symbol": CURRENCIES[currency]["currency_symbol"],
        "price_precision": CURRENCIES[currency]["precision"],
        "exchange_rate": exchange_rate,
        "discount": 0,
        "is_discount_before_tax": True,
        "discount_type": "item_level",
        "is_inclusive_tax": False,
        "shipping_charge": 0,
        "adjustment": 0,
        "adjustment_description": "Adjustment",
        "location_id": meta.primary_location_id,
        "location_name": meta.location_names[meta.primary_location_id],
        "line_items": lines,
        "billing_address": dict(party.get("billing_address") or {}),
        "shipping_address": dict(party.get("shipping_address") or {}),
        "notes": ""
        if rng.random() < 0.7
        else rng.choice(("Thank you for your business.", "شكراً لتعاملكم معنا", "Goods once sold are not returnable.")),
        "terms": "",
        "custom_fields": [],
        "custom_field_hash": {},
        "created_by_name": rng.choice(SALESPEOPLE),
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
        "updated_time": fmt_time(modified),
    }
    if side == "customer":
        doc["salesperson_name"] = rng.choice(SALESPEOPLE)
        doc["salesperson_id"] = ""
    if kind in ("invoices", "bills"):
        doc["due_date"] = fmt_date(created + terms * DAY)
        doc["payment_terms"] = terms
        doc["payment_terms_label"] = party.get("payment_terms_label", "")
        doc["balance"] = 0
        doc["total"] = 0
        doc["payment_made"] = 0
        doc["credits_applied"] = 0
        doc["write_off_amount"] = 0
    if kind == "invoices":
        doc.update(
            invoice_url="",
            is_emailed=status != "draft",
            reminders_sent=0,
            last_payment_date="",
            salesorder_id="",
            salesorder_number="",
            type="invoice",
            sales_channel="direct_sales",
        )
    elif kind == "bills":
        doc.update(purchaseorder_ids=[], vendor_credits=[], due_by_days=0, payments=[])
    elif kind == "creditnotes":
        doc.update(balance=0, total=0, invoices=[], reason="", is_emailed=False)
    elif kind == "salesorders":
        doc["shipment_date"] = fmt_date(created + rng.randint(1, 10) * DAY)
        doc["delivery_method"] = rng.choice(("Company Truck", "Customer Pickup", "Courier"))
        doc["order_status"] = status
        doc["invoiced_status"] = {"invoiced": "invoiced", "partially_invoiced": "partially_invoiced"}.get(
            status, "not_invoiced"
        )
        doc["paid_status"] = "paid" if status == "invoiced" and rng.random() < 0.6 else "unpaid"
        doc["shipped_status"] = "fulfilled" if status in ("invoiced", "closed") else "pending"
    elif kind == "purchaseorders":
        doc["delivery_date"] = fmt_date(created + rng.randint(7, 45) * DAY)
        doc["expected_delivery_date"] = doc["delivery_date"]
        doc["order_status"] = status
        doc["billed_status"] = {"billed": "billed", "partially_billed": "partially_billed"}.get(status, "not_billed")
        doc["received_status"] = "received" if status in ("billed", "closed") else "pending"
        doc["delivery_address"] = {"address": "Al-Karrada, Street 62", "city": "Baghdad", "country": "Iraq"}
    spec_shapes(doc, meta, kind, doc_id)
    # balance starts at the full total (nothing settled); payments and credits reduce it later
    finalize_document(doc, kind)
    return doc


def spec_shapes(doc: dict[str, Any], meta: OrgMeta, kind: str, doc_id: str) -> None:
    """The shapes Zoho's spec documents, chosen by id (the random stream is left as it was).

    Purchase documents: every fourth one sends `billing_address` / `delivery_address` as an
    array of address objects (as Inventory does) and every fifth is tax-inclusive; every
    third sales order carries a percentage header discount; every document names its
    branch in a custom field (`custom_fields[]`, `custom_field_hash` and a flat `cf_branch`).
    """
    n = int(doc_id)
    if kind in ("bills", "purchaseorders"):
        if n % 4 == 0:
            doc["billing_address"] = [doc["billing_address"]] if doc.get("billing_address") else []
            if "delivery_address" in doc:
                doc["delivery_address"] = [doc["delivery_address"]]
        if n % 5 == 0:
            doc["is_inclusive_tax"] = True
    if kind == "salesorders" and n % 3 == 0:
        doc["discount"] = f"{(5, 7.5, 10)[(n // 3) % 3]:.2f}%"
        doc["discount_type"] = "entity_level"
        doc["discount_total"] = 0
    branch = meta.location_names.get(doc.get("location_id") or "", "")
    if branch and "cf_branch" in meta.custom_field_ids:
        set_custom_fields(doc, meta, {"cf_branch": branch})
        doc["cf_branch"] = branch


def mutate_document(
    rng: random.Random, doc: dict[str, Any], kind: str, meta: OrgMeta, ids: IdAllocator, items: list[dict[str, Any]]
) -> None:
    """A user edits a document: quantities or rates, adds or removes a line, or moves its status."""
    lines = [dict(line) for line in doc.get("line_items") or []]
    choice = rng.random()
    if choice < 0.45 and lines:
        line = lines[rng.randrange(len(lines))]
        line["quantity"] = max(1, int(float(line.get("quantity") or 1)) + rng.choice((-2, -1, 1, 2, 5)))
    elif choice < 0.6 and len(lines) > 1:
        lines.pop(rng.randrange(len(lines)))
    elif choice < 0.75 and items:
        item = items[rng.randrange(len(items))]
        lines.append(
            build_line(
                rng,
                meta,
                ids,
                item,
                len(lines) + 1,
                doc.get("currency_code") or BASE_CURRENCY,
                float(doc.get("exchange_rate") or 1),
                kind,
            )
        )
    elif choice < 0.85 and lines:
        line = lines[rng.randrange(len(lines))]
        line["discount"] = rng.choice((0, 5, 10, 15))
    else:
        nxt = {
            "invoices": {"draft": "sent"},
            "bills": {"draft": "open"},
            "creditnotes": {"draft": "open"},
            "salesorders": {
                "draft": "open",
                "open": "invoiced",
                "partially_invoiced": "invoiced",
                "invoiced": "closed",
            },
            "purchaseorders": {"draft": "open", "open": "billed", "partially_billed": "billed", "billed": "closed"},
        }[kind]
        status = doc.get("status")
        if status in nxt:
            doc["status"] = nxt[status]
            if kind == "salesorders":
                doc["order_status"] = doc["status"]
                doc["invoiced_status"] = "invoiced" if doc["status"] in ("invoiced", "closed") else "not_invoiced"
            if kind == "purchaseorders":
                doc["order_status"] = doc["status"]
                doc["billed_status"] = "billed" if doc["status"] in ("billed", "closed") else "not_billed"
            if status == "draft" and kind in ("invoices", "bills", "creditnotes"):
                doc["balance"] = doc.get("total", 0)
        else:
            doc["notes"] = rng.choice(("Updated per customer request.", "Delivery rescheduled.", "تم التعديل"))
    doc["line_items"] = lines
    finalize_document(doc, kind)


# ---------------------------------------------------------------------------
# Payments
# ---------------------------------------------------------------------------


def build_customer_payment(
    rng: random.Random,
    meta: OrgMeta,
    payment_id: str,
    number: int,
    customer: dict[str, Any],
    invoices: list[dict[str, Any]],
    created: int,
    modified: int,
) -> dict[str, Any]:
    """A customer payment applied to some of that customer's open invoices (may stay unapplied)."""
    currency = invoices[0]["currency_code"] if invoices else customer.get("currency_code") or BASE_CURRENCY
    applied = []
    amount = 0.0
    for inv in invoices:
        if inv.get("currency_code") != currency:
            continue
        balance = float(inv.get("balance") or 0)
        part = balance if rng.random() < 0.7 else float(round_price(balance * rng.uniform(0.3, 0.9), currency))
        part = min(part, balance)
        if part <= 0:
            continue
        applied.append(
            {
                "invoice_id": inv["invoice_id"],
                "invoice_number": inv["invoice_number"],
                "date": inv["date"],
                "due_date": inv.get("due_date", ""),
                "invoice_amount": inv["total"],
                "amount_applied": num(part),
                "balance_amount": num(balance - part),
            }
        )
        amount += part
    unused = 0.0
    if not applied or rng.random() < 0.05:
        unused = float(round_price(rng.uniform(50_000, 2_000_000) / (USD_RATE if currency == "USD" else 1), currency))
        amount += unused
    rate = 1.0 if currency == BASE_CURRENCY else USD_RATE
    account = rng.choice(meta.cash_accounts)
    return {
        "payment_id": payment_id,
        "payment_number": str(number),
        "date": fmt_date(created),
        "payment_mode": rng.choice(PAYMENT_MODES),
        "amount": num(amount),
        "amount_formatted": money(num(amount), currency),
        "bcy_amount": num(amount * rate),
        "unused_amount": num(unused),
        "bank_charges": 0,
        "amount_refunded": 0,
        "account_id": account.id,
        "account_name": account.name,
        "description": ""
        if rng.random() < 0.6
        else rng.choice(("Cash received at shop", "Transfer from customer", "دفعة نقدية")),
        "reference_number": "" if rng.random() < 0.5 else f"TRX{rng.randint(100000, 999999)}",
        "customer_id": customer["contact_id"],
        "customer_name": customer["contact_name"],
        "currency_id": CURRENCIES[currency]["currency_id"],
        "currency_code": currency,
        "currency_symbol": CURRENCIES[currency]["currency_symbol"],
        "exchange_rate": rate,
        "invoice_numbers": ", ".join(a["invoice_number"] for a in applied),
        "invoice_number": applied[0]["invoice_number"] if applied else "",
        "invoices": applied,
        "location_id": meta.primary_location_id,
        "custom_fields": [],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def build_vendor_payment(
    rng: random.Random,
    meta: OrgMeta,
    payment_id: str,
    number: int,
    vendor: dict[str, Any],
    bills: list[dict[str, Any]],
    created: int,
    modified: int,
) -> dict[str, Any]:
    """A payment made to a vendor, applied to open bills."""
    currency = bills[0]["currency_code"] if bills else vendor.get("currency_code") or "USD"
    applied = []
    amount = 0.0
    for bill in bills:
        if bill.get("currency_code") != currency:
            continue
        balance = float(bill.get("balance") or 0)
        part = balance if rng.random() < 0.75 else float(round_price(balance * rng.uniform(0.3, 0.9), currency))
        part = min(part, balance)
        if part <= 0:
            continue
        applied.append(
            {
                "bill_id": bill["bill_id"],
                "bill_number": bill["bill_number"],
                "date": bill["date"],
                "due_date": bill.get("due_date", ""),
                "total": bill["total"],
                "amount_applied": num(part),
                "balance": num(balance - part),
            }
        )
        amount += part
    unused = 0.0
    if not applied:
        unused = float(round_price(rng.uniform(500, 20_000) * (1 if currency == "USD" else USD_RATE), currency))
        amount += unused
    rate = 1.0 if currency == BASE_CURRENCY else USD_RATE
    account = rng.choice(meta.cash_accounts)
    return {
        "payment_id": payment_id,
        "payment_number": str(number),
        "date": fmt_date(created),
        "payment_mode": rng.choice(("bank transfer", "bank transfer", "cash", "check")),
        "amount": num(amount),
        "amount_formatted": money(num(amount), currency),
        "bcy_amount": num(amount * rate),
        "balance": num(unused),
        "unused_amount": num(unused),
        "paid_through_account_id": account.id,
        "paid_through_account_name": account.name,
        "description": "" if rng.random() < 0.5 else "Wire transfer for shipment",
        "reference_number": "" if rng.random() < 0.4 else f"SWIFT{rng.randint(10000000, 99999999)}",
        "vendor_id": vendor["contact_id"],
        "vendor_name": vendor["contact_name"],
        "currency_id": CURRENCIES[currency]["currency_id"],
        "currency_code": currency,
        "currency_symbol": CURRENCIES[currency]["currency_symbol"],
        "exchange_rate": rate,
        "bill_numbers": ", ".join(a["bill_number"] for a in applied),
        "bills": applied,
        "custom_fields": [],
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def mutate_payment(rng: random.Random, payment: dict[str, Any]) -> None:
    """A user edits a payment's paperwork (never its amount, which would unbalance invoices)."""
    choice = rng.random()
    if choice < 0.4:
        payment["reference_number"] = f"TRX{rng.randint(100000, 999999)}"
    elif choice < 0.7:
        payment["description"] = rng.choice(("Corrected reference", "Received by branch", "دفعة مصححة", ""))
    else:
        payment["payment_mode"] = rng.choice(PAYMENT_MODES)


# ---------------------------------------------------------------------------
# Price books
# ---------------------------------------------------------------------------

PRICEBOOKS = [
    # name, type, share of goods items, rate factor range, description
    ("Consumer Price List", "per_item", 0.92, (1.0, 1.12), "Retail prices for walk-in customers"),
    ("Wholesale Price List", "per_item", 0.85, (0.82, 0.93), "Prices for shops and resellers"),
    ("Technicians Price List", "per_item", 0.35, (0.9, 0.97), "Installers and technicians"),
    ("Dealers 10% Markdown", "fixed_percentage", 0.25, (0.9, 0.9), "Authorised dealers: 10% below the sales rate"),
]


def pricebook_item(
    rng: random.Random, ids: IdAllocator, item: dict[str, Any], factor: float, book_type: str, brackets: bool
) -> dict[str, Any]:
    rate = round_price(float(item.get("rate") or 0) * factor)
    if book_type == "fixed_percentage":
        discount = ""
    else:
        discount = rng.choice(("", "", "", "", "", "10", "10%", "5%", "2.5%"))
    entry: dict[str, Any] = {
        "pricebook_item_id": ids.sub(),
        "item_id": item["item_id"],
        "name": item["name"],
        "sku": item.get("sku", ""),
        "status": item.get("status", "active"),
        "rate": item.get("rate"),
        "pricebook_rate": rate,
        "pricebook_discount": discount,
        "pricing_scheme": "unit",
        "price_brackets": [],
    }
    if brackets:
        entry["pricing_scheme"] = "volume"
        entry["price_brackets"] = [
            {"start_quantity": 1, "end_quantity": 9, "pricebook_rate": rate, "pricebook_discount": ""},
            {
                "start_quantity": 10,
                "end_quantity": 49,
                "pricebook_rate": round_price(float(rate) * 0.97),
                "pricebook_discount": "",
            },
            {
                "start_quantity": 50,
                "end_quantity": "",
                "pricebook_rate": round_price(float(rate) * 0.94),
                "pricebook_discount": "3%",
            },
        ]
    return entry


def build_pricebook(
    rng: random.Random,
    ids: IdAllocator,
    pricebook_id: str,
    spec: tuple,
    goods: list[dict[str, Any]],
    created: int,
    modified: int,
) -> dict[str, Any]:
    name, book_type, share, (lo, hi), description = spec
    entries = []
    for item in goods:
        if rng.random() < share:
            factor = rng.uniform(lo, hi)
            entries.append(
                pricebook_item(
                    rng, ids, item, factor, book_type, brackets=name.startswith("Wholesale") and rng.random() < 0.06
                )
            )
    return {
        "pricebook_id": pricebook_id,
        "name": name,
        "description": description,
        "currency_id": CURRENCIES[BASE_CURRENCY]["currency_id"],
        "currency_code": BASE_CURRENCY,
        "decimal_place": 0,
        "is_default": False,
        "is_increase": False,
        "percentage": 10 if book_type == "fixed_percentage" else "",
        "pricebook_type": book_type,
        "pricing_scheme": "unit",
        "rounding_type": "no_rounding",
        "sales_or_purchase_type": "sales",
        "status": "active",
        "pricebook_items": entries,
        "created_time": fmt_time(created),
        "last_modified_time": fmt_time(modified),
    }


def mutate_pricebook(rng: random.Random, book: dict[str, Any], ids: IdAllocator, goods: list[dict[str, Any]]) -> None:
    """A price list review: a handful of rates or discounts change, sometimes an item is added."""
    entries = [dict(e) for e in book.get("pricebook_items") or []]
    for _ in range(rng.randint(1, 5)):
        if not entries:
            break
        e = entries[rng.randrange(len(entries))]
        if rng.random() < 0.75 or book.get("pricebook_type") == "fixed_percentage":
            e["pricebook_rate"] = round_price(float(e.get("pricebook_rate") or 1000) * rng.uniform(0.92, 1.1))
            if e.get("price_brackets"):
                r = float(e["pricebook_rate"])
                e["price_brackets"] = [
                    dict(b, pricebook_rate=round_price(r * f)) for b, f in zip(e["price_brackets"], (1.0, 0.97, 0.94))
                ]
        else:
            e["pricebook_discount"] = rng.choice(("", "10", "10%", "5%"))
    if goods and rng.random() < 0.2:
        present = {e["item_id"] for e in entries}
        candidate = goods[rng.randrange(len(goods))]
        if candidate["item_id"] not in present:
            entries.append(
                pricebook_item(
                    rng, ids, candidate, rng.uniform(0.85, 1.1), book.get("pricebook_type", "per_item"), False
                )
            )
    book["pricebook_items"] = entries


def mutate_location(rng: random.Random, loc: dict[str, Any]) -> None:
    choice = rng.random()
    if choice < 0.4:
        loc["phone"] = iraqi_phone(rng)
    elif choice < 0.7:
        loc["email"] = f"warehouse{rng.randint(1, 99)}@tsh.sale"
    else:
        addr = dict(loc.get("address") or {})
        addr["attention"] = rng.choice(
            ("Warehouse Manager", "Store Keeper", f"{rng.choice(FIRST_NAMES)[0]} {rng.choice(LAST_NAMES)[0]}")
        )
        loc["address"] = addr


# ---------------------------------------------------------------------------
# The whole organisation
# ---------------------------------------------------------------------------


def scaled_counts(scale: float) -> dict[str, int]:
    return {k: max(MIN_COUNTS.get(k, 3), int(round(v * scale))) for k, v in BASE_COUNTS.items()}


def _times(rng: random.Random, n: int, start: int, end: int) -> list[int]:
    return sorted(int(rng.uniform(start, end)) for _ in range(n))


def _modified(rng: random.Random, created: int, unchanged: float, horizon: int = SEED_EPOCH) -> int:
    """Some records never changed; the rest were edited at a random later point before the epoch."""
    if rng.random() < unchanged or created >= horizon:
        return created
    span = horizon - created
    return created + int(span * rng.random() ** 2)


def generate_org(seed: int = 42, scale: float = 1.0) -> GeneratedOrg:
    """Build the seeded organisation. Same (seed, scale) → byte-identical records."""
    counts = scaled_counts(scale)
    rng_ids = random.Random(f"{seed}:ids")
    ids = IdAllocator()
    year = 365 * DAY

    # 1. when each record was created, per kind (ids follow creation order across kinds)
    trng = random.Random(f"{seed}:times")
    created: dict[str, list[int]] = {
        "locations": [SEED_EPOCH - 420 * DAY + i * 3600 for i in range(len(LOCATIONS))],
        "pricebooks": [SEED_EPOCH - 410 * DAY + i * 7200 for i in range(len(PRICEBOOKS))],
        "vendors": _times(trng, counts["vendors"], SEED_EPOCH - 400 * DAY, SEED_EPOCH - 20 * DAY),
        "items": _times(trng, counts["items"], SEED_EPOCH - 390 * DAY, SEED_EPOCH - 3 * DAY),
        "customers": _times(trng, counts["customers"], SEED_EPOCH - 385 * DAY, SEED_EPOCH - 1 * DAY),
    }
    for kind in (
        "invoices",
        "bills",
        "creditnotes",
        "salesorders",
        "purchaseorders",
        "customerpayments",
        "vendorpayments",
    ):
        created[kind] = _times(trng, counts[kind], SEED_EPOCH - year, SEED_EPOCH - 3600)

    order = {k: i for i, k in enumerate(created)}
    stream = heapq.merge(*[[(t, order[k], k, i) for i, t in enumerate(ts)] for k, ts in created.items()])
    assigned: dict[str, list[str]] = {k: [""] * len(ts) for k, ts in created.items()}
    for _, _, kind, i in stream:
        if kind == "locations" and i == 0:
            assigned[kind][i] = PRIMARY_LOCATION_ID
            ids.ensure_above(PRIMARY_LOCATION_ID)
        else:
            assigned[kind][i] = ids.main(rng_ids)

    # 2. organisation settings the records point at
    meta_ids = IdAllocator(main=1_000, sub=2_000)
    location_names = {assigned["locations"][i]: spec[0] for i, spec in enumerate(LOCATIONS)}
    meta = OrgMeta(
        custom_field_ids={k: meta_ids.sub() for k in CUSTOM_FIELDS if k != "cf_branch"},
        tax=Ref(meta_ids.sub(), "Sales Tax", {"percentage": 5}),
        sales_account=Ref(meta_ids.sub(), "Sales"),
        purchase_account=Ref(meta_ids.sub(), "Cost of Goods Sold"),
        inventory_account=Ref(meta_ids.sub(), "Inventory Asset"),
        cash_accounts=[Ref(meta_ids.sub(), name) for name in CASH_ACCOUNTS],
        unit_ids={u: meta_ids.sub() for u in ("pcs", "roll", "box", "set", "m", "job")},
        category_ids={c[0]: meta_ids.sub() for c in CATALOGUE} | {"Services": meta_ids.sub()},
        location_names=location_names,
        primary_location_id=assigned["locations"][0],
    )

    meta.custom_field_ids["cf_branch"] = meta_ids.sub()  # added later: allocated last, other ids unchanged
    out: dict[str, list[Seeded]] = {}

    # 3. records, kind by kind, each with its own random stream
    rng = random.Random(f"{seed}:locations")
    out["locations"] = [
        Seeded(build_location(assigned["locations"][i], spec, t, t), t, t)
        for i, (spec, t) in enumerate(zip(LOCATIONS, created["locations"]))
    ]

    rng = random.Random(f"{seed}:vendors")
    vendors = []
    for cid, t in zip(assigned["vendors"], created["vendors"]):
        m = _modified(rng, t, 0.5)
        vendors.append(Seeded(build_contact(rng, meta, ids, cid, "vendor", t, m), t, m))
    for seeded in vendors[3::10]:  # one vendor in ten is also a customer
        make_both(seeded.record)

    rng = random.Random(f"{seed}:customers")
    customers = []
    for cid, t in zip(assigned["customers"], created["customers"]):
        m = _modified(rng, t, 0.55)
        customers.append(Seeded(build_contact(rng, meta, ids, cid, "customer", t, m), t, m))

    rng = random.Random(f"{seed}:items")
    vendor_records = [v.record for v in vendors]
    items = []
    for seq, (iid, t) in enumerate(zip(assigned["items"], created["items"]), start=1):
        m = _modified(rng, t, 0.35)
        record, extra = build_item(rng, meta, ids, iid, seq, t, m, vendor_records, service=rng.random() < 0.03)
        items.append(Seeded(record, t, m, extra))
    # a few items share one picture (same bytes, different items): content addressing must dedupe them
    with_images = [s for s in items if s.extra.get("image_key")]
    for s in with_images[5::97]:
        donor = with_images[(with_images.index(s) * 7) % len(with_images)]
        if donor is not s:
            s.extra["image_key"] = donor.extra["image_key"]
            s.record["image_type"] = donor.record["image_type"]
            s.record["image_name"] = donor.record["image_name"]
    out["items"] = items

    rng = random.Random(f"{seed}:pricebooks")
    goods = [s.record for s in items if s.record["product_type"] == "goods"]
    out["pricebooks"] = []
    for i, (spec, t) in enumerate(zip(PRICEBOOKS, created["pricebooks"])):
        m = SEED_EPOCH - rng.randint(1, 60) * DAY
        out["pricebooks"].append(Seeded(build_pricebook(rng, ids, assigned["pricebooks"][i], spec, goods, t, m), t, m))

    sellable = [s.record for s in items if s.record["status"] == "active"] or [s.record for s in items]
    customer_records = [c.record for c in customers]

    # active customers buy more: bias towards the older (lower-index) customers
    def pick(rng: random.Random, seq: list[dict[str, Any]], before: int, created_at: list[int]) -> dict[str, Any]:
        limit = max(1, bisect.bisect_left(created_at, before)) if created_at else len(seq)
        return seq[int(limit * rng.random() ** 1.6)]

    docs: dict[str, list[Seeded]] = {}
    for kind in ("invoices", "bills", "creditnotes", "salesorders", "purchaseorders"):
        rng = random.Random(f"{seed}:{kind}")
        side = DOC_KINDS[kind][3]
        parties, party_times = (
            (customer_records, created["customers"]) if side == "customer" else (vendor_records, created["vendors"])
        )
        docs[kind] = []
        for n, (did, t) in enumerate(zip(assigned[kind], created[kind]), start=1):
            m = _modified(rng, t, 0.5, min(SEED_EPOCH, t + 20 * DAY))
            party = pick(rng, parties, t, party_times)
            docs[kind].append(Seeded(build_document(rng, meta, ids, kind, did, n, party, sellable, t, m), t, m))

    # payments settle invoices and bills; credit notes are applied to invoices
    def settle(rng: random.Random, kind: str, pay_kind: str, party_field: str, build) -> list[Seeded]:
        open_docs = [s for s in docs[kind] if s.record["status"] not in ("draft", "void")]
        by_party: dict[str, list[Seeded]] = {}
        for s in open_docs:
            by_party.setdefault(s.record[party_field], []).append(s)
        parties_idx = {
            c["contact_id"]: c for c in (customer_records if party_field == "customer_id" else vendor_records)
        }
        result = []
        open_times = [s.created for s in open_docs]  # docs are in creation order
        for n, (pid, t) in enumerate(zip(assigned[pay_kind], created[pay_kind]), start=1):
            earlier = open_docs[: bisect.bisect_left(open_times, t)]
            candidates = [s for s in earlier if s.record["balance"] > 0]
            if candidates:
                target = candidates[int(len(candidates) * rng.random() ** 0.5) if len(candidates) > 1 else 0]
                party = parties_idx[target.record[party_field]]
                theirs = [
                    s
                    for s in by_party[target.record[party_field]]
                    if s.created < t and float(s.record.get("balance") or 0) > 0
                ]
                chosen = [target] + [s for s in theirs if s is not target and rng.random() < 0.25][:3]
            else:
                party = pick(rng, list(parties_idx.values()), t, [])
                chosen = []
            m = _modified(rng, t, 0.8, min(SEED_EPOCH, t + 5 * DAY))
            record = build(rng, meta, pid, n, party, [s.record for s in chosen], t, m)
            apps = record.get("invoices") if pay_kind == "customerpayments" else record.get("bills")
            by_id = {s.record[DOC_KINDS[kind][0]]: s for s in chosen}
            for app in apps:
                s = by_id[app[DOC_KINDS[kind][0]]]
                s.record["balance"] = num(float(s.record["balance"]) - float(app["amount_applied"]))
                if kind == "invoices":
                    s.record["last_payment_date"] = record["date"]
                finalize_document(s.record, kind)
                s.modified = max(s.modified, t)
                s.record["last_modified_time"] = fmt_time(s.modified)
                s.record["updated_time"] = s.record["last_modified_time"]
            result.append(Seeded(record, t, m))
        return result

    out["customerpayments"] = settle(
        random.Random(f"{seed}:customerpayments"), "invoices", "customerpayments", "customer_id", build_customer_payment
    )
    out["vendorpayments"] = settle(
        random.Random(f"{seed}:vendorpayments"), "bills", "vendorpayments", "vendor_id", build_vendor_payment
    )

    rng = random.Random(f"{seed}:credits")
    inv_by_customer: dict[str, list[Seeded]] = {}
    for s in docs["invoices"]:
        if s.record["status"] not in ("draft", "void"):
            inv_by_customer.setdefault(s.record["customer_id"], []).append(s)
    for cn in docs["creditnotes"]:
        rec = cn.record
        if rec["status"] in ("draft", "void"):
            continue
        candidates = [
            s
            for s in inv_by_customer.get(rec["customer_id"], [])
            if s.created < cn.created
            and float(s.record["balance"]) > 0
            and s.record["currency_code"] == rec["currency_code"]
        ]
        if candidates and rng.random() < 0.6:
            inv = candidates[rng.randrange(len(candidates))]
            part = min(float(rec["balance"]), float(inv.record["balance"]))
            rec["invoices"] = [
                {
                    "invoice_id": inv.record["invoice_id"],
                    "invoice_number": inv.record["invoice_number"],
                    "amount_applied": num(part),
                    "date": fmt_date(cn.created),
                }
            ]
            rec["balance"] = num(float(rec["balance"]) - part)
            finalize_document(rec, "creditnotes")
            inv.record["balance"] = num(float(inv.record["balance"]) - part)
            inv.record["credits_applied"] = num(float(inv.record.get("credits_applied") or 0) + part)
            finalize_document(inv.record, "invoices")
            inv.modified = max(inv.modified, cn.created)
            inv.record["last_modified_time"] = fmt_time(inv.modified)
            inv.record["updated_time"] = inv.record["last_modified_time"]
    out.update(docs)

    # 4. contact balances follow from the documents
    contacts_by_id = {s.record["contact_id"]: s.record for s in customers + vendors}
    for kind, field_name, amount_key in (
        ("invoices", "customer_id", "outstanding_receivable_amount"),
        ("bills", "vendor_id", "outstanding_payable_amount"),
        ("creditnotes", "customer_id", "unused_credits_receivable_amount"),
    ):
        for s in docs[kind]:
            contact = contacts_by_id[s.record[field_name]]
            contact["has_transaction"] = True
            bal = float(s.record.get("balance") or 0) * float(s.record.get("exchange_rate") or 1)
            contact[f"{amount_key}_bcy"] = num(float(contact[f"{amount_key}_bcy"]) + bal)
    for contact in contacts_by_id.values():
        rate = 1.0 if contact["currency_code"] == BASE_CURRENCY else USD_RATE
        for key in ("outstanding_receivable_amount", "outstanding_payable_amount", "unused_credits_receivable_amount"):
            contact[key] = num(float(contact[f"{key}_bcy"]) / rate)
            contact[f"{key}_formatted"] = money(contact[key], contact["currency_code"])
    out["contacts"] = sorted(customers + vendors, key=lambda s: s.record["contact_id"])
    for kind in out:
        out[kind].sort(key=lambda s: (len(s.record[ID_FIELDS[kind]]), s.record[ID_FIELDS[kind]]))
    return GeneratedOrg(out, ids, meta)


ID_FIELDS = {
    "items": "item_id",
    "contacts": "contact_id",
    "invoices": "invoice_id",
    "bills": "bill_id",
    "creditnotes": "creditnote_id",
    "customerpayments": "payment_id",
    "vendorpayments": "payment_id",
    "salesorders": "salesorder_id",
    "purchaseorders": "purchaseorder_id",
    "pricebooks": "pricebook_id",
    "locations": "location_id",
}

"""The periodic schedule (UTC). Each entry's key is its task name (plus its argument); nothing else lives here.

API budget (100 calls/minute, a few thousand a day): an incremental pull that finds nothing
costs one call per list, so pulling every few minutes costs a few hundred calls a day;
stock is re-read in full every 15 minutes (≈11 calls for 2,200 items) because Zoho changes
stock without moving an item's `last_modified_time`.
"""
from celery.schedules import crontab

from models.settings import get_settings
from zoho.entities import registry

HEAL_EVERY_SECONDS = float(max(1, get_settings().heal_interval_seconds))
"""`SYNC_HEAL_INTERVAL_SECONDS` (15): how often lost messages and due retries are looked for."""
RELEASE_EVERY_SECONDS = float(min(30, max(1, get_settings().release_grace_seconds // 2)))
"""Half of `SYNC_RELEASE_GRACE_SECONDS` (60), at most 30 s: how often dead workers' claims are looked for."""

PULL_EVERY_SECONDS = {"products": 300, "stock": 900, "customers": 600, "vendors": 1800, "invoices": 600,
                      "sales-orders": 600, "payments": 900, "prices": 1800, "warehouses": 3600,
                      # lists without a `last_modified_time` filter are scanned whole: less often
                      "inventory-adjustments": 1800, "transfer-orders": 1800, "composite-items": 1800,
                      "item-groups": 3600, "vendor-credits": 1800}
DEFAULT_PULL_EVERY_SECONDS = 900
FULL_PULL_EVERY_TIME = {"stock"}

beat_schedule = {
    "heal.enqueue_orphans": {"task": "heal.enqueue_orphans", "schedule": HEAL_EVERY_SECONDS},
    "heal.release_stuck": {"task": "heal.release_stuck", "schedule": RELEASE_EVERY_SECONDS},
    "heal.requeue_failed": {"task": "heal.requeue_failed", "schedule": HEAL_EVERY_SECONDS},
    "heal.dead_letter": {"task": "heal.dead_letter", "schedule": 300.0},
    "heal.check_workers": {"task": "heal.check_workers", "schedule": 60.0},
    "heal.purge_completed": {"task": "heal.purge_completed", "schedule": crontab(hour=3, minute=30)},
    # A snapshot that waited past the next one is worthless: it expires instead of piling up.
    "monitor.snapshot": {"task": "monitor.snapshot", "schedule": 60.0, "options": {"expires": 55}},
}

_shared = set()
for _name, _entity in registry().items():
    if not _entity.sources or (_entity.sources[0].key in _shared and _name not in FULL_PULL_EVERY_TIME):
        continue
    _shared.update(src.key for src in _entity.sources)
    beat_schedule[f"bulk.pull:{_name}"] = {
        "task": "bulk.pull",
        "schedule": float(PULL_EVERY_SECONDS.get(_name, DEFAULT_PULL_EVERY_SECONDS)),
        "args": [_name],
        "kwargs": {"full": _name in FULL_PULL_EVERY_TIME},
    }

beat_schedule["bulk.pull_all:nightly-full"] = {"task": "bulk.pull_all", "schedule": crontab(hour=1, minute=0),
                                               "kwargs": {"full": True}}
for _i, _name in enumerate(n for n, e in registry().items() if e.sources):
    beat_schedule[f"reconcile.entity:{_name}"] = {"task": "reconcile.entity", "args": [_name],
                                                 "schedule": crontab(hour=3, minute=(_i * 4) % 60)}

# Product images: only new or changed pictures are downloaded, so an idle hour costs no API call.
beat_schedule["images.sync_products"] = {"task": "images.sync_products", "schedule": crontab(minute=20)}

"""The periodic schedule (UTC). Each entry's key is its task name; nothing else lives here."""
from celery.schedules import crontab

beat_schedule = {
    "heal.enqueue_orphans": {"task": "heal.enqueue_orphans", "schedule": 15.0},
    "heal.release_stuck": {"task": "heal.release_stuck", "schedule": 30.0},
    "heal.requeue_failed": {"task": "heal.requeue_failed", "schedule": 15.0},
    "heal.dead_letter": {"task": "heal.dead_letter", "schedule": 300.0},
    "heal.check_workers": {"task": "heal.check_workers", "schedule": 60.0},
    "heal.purge_completed": {"task": "heal.purge_completed", "schedule": crontab(hour=3, minute=30)},
}

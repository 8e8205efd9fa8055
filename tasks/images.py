"""`images.sync_products`: product pictures from Zoho Inventory, fetched only when Zoho says they changed, stored by content.

Contract:

- A product needs a fetch when the image marker Zoho sends on every item
  (`image_document_id` and `image_name`, kept by the products transformer) differs from
  `products.image_synced_key`, the marker its `image_url` was fetched for. A product
  whose item says it has no picture is settled without any API call (`without_image`:
  not an error); one whose stored record says nothing about pictures is asked once.
  So a run after a run downloads nothing unless Zoho changed a picture.
- Downloads (`GET /inventory/v1/items/{id}/image`) run on a small thread pool; every
  call takes its slot from the shared Redis limiter at `bulk` priority, so images never
  starve webhook-driven work and the fleet stays within Zoho's per-minute budget.
- Pictures are content-addressed in PostgreSQL (`product_images`, keyed by sha256), the
  store every host shares; `products.image_url` is the stable URL path the receiver serves
  them at, `/api/zoho/images/<sha256>.<ext>` (never a host's local path). Identical bytes
  are one row, never rewritten. Products that share a Zoho image document reuse it
  without a download.
- One product's failure never stops the others. A failed product keeps its old
  marker, so the next run fetches it again (after three failures in a row, with a
  back-off of up to a day). An expired credential or a spent daily budget stops the
  run early instead of burning calls; what was not attempted is `deferred`, not lost.
- Results are written in bounded batches, each guarded by the marker it was fetched for
  (a change that lands mid-download is fetched next run). Each run is a
  `tds_sync_runs` row (entity `product-images`, kind `images`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

import redis
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models import coord
from models.db import get_engine
from tasks import app
from zoho.errors import AuthError, PermanentError, RateLimited, SyncError

log = logging.getLogger(__name__)

RUN_ENTITY = "product-images"
BATCH_SIZE = 100
DEFAULT_WORKERS = 4
DEFAULT_LIMIT = 2000
DEFAULT_MAX_SECONDS = 20 * 60
"""Stop submitting downloads after this long: at the bulk share of 100 calls/min that is ~1,600 images."""
BUDGET_WAIT_SECONDS = 120.0
"""How long one download waits for a call slot of the shared budget (as a pull does)."""
RETRY_FREELY = 3
"""Consecutive failures retried on every run; later ones back off 1, 2, 4 … 24 hours."""
LOCK_TTL_SECONDS = 3600
STORE_NAME = "postgresql:product_images"
NO_IMAGE = ""
UNKNOWN = "?"

# The marker of Zoho's current picture, computed in SQL so selection and the write guard agree.
MARKER_SQL = """
CASE WHEN coalesce(image_document_id, '') = '' AND coalesce(image_name, '') = '' THEN
     CASE WHEN jsonb_typeof(raw) = 'object' AND (raw ? 'image_name' OR raw ? 'image_document_id')
          THEN '' ELSE '?' END
     ELSE coalesce(image_document_id, '') || '/' || coalesce(image_name, '') END
"""

_SELECT = f"""
SELECT id, zoho_item_id, ({MARKER_SQL}) AS marker,
       coalesce(raw ->> 'image_type', '') AS image_type
  FROM products
 WHERE is_active AND zoho_last_modified_at IS NOT NULL
   AND image_synced_key IS DISTINCT FROM ({MARKER_SQL})
   AND (coalesce(image_failures, 0) < {RETRY_FREELY} OR image_checked_at IS NULL
        OR image_checked_at < now() - make_interval(hours => least(24, power(2, image_failures - {RETRY_FREELY})::int)))
 ORDER BY coalesce(image_failures, 0), id
 LIMIT :limit
"""

_STORED = f"""
UPDATE products SET image_url = :url, image_hash = :sha, image_synced_key = :marker, image_checked_at = now(),
       image_error = NULL, image_failures = NULL
 WHERE id = :id AND ({MARKER_SQL}) = :marker
"""

_FAILED = """
UPDATE products SET image_checked_at = now(), image_error = :error, image_failures = coalesce(image_failures, 0) + 1
 WHERE id = :id
"""

_SNIFF = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))
_CONTENT_TYPES = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/pjpeg": "jpg", "image/png": "png",
                  "image/gif": "gif", "image/webp": "webp", "image/bmp": "bmp", "image/tiff": "tif",
                  "image/svg+xml": "svg", "image/heic": "heic", "image/avif": "avif"}


class ImageSyncLocked(Exception):
    """Another image sync is running; this one is skipped, not doubled."""


@dataclass
class ImageStats:
    checked: int = 0
    downloaded: int = 0
    files_written: int = 0
    reused: int = 0
    without_image: int = 0
    failed: int = 0
    deferred: int = 0
    api_calls: int = 0


@dataclass(frozen=True)
class Candidate:
    id: int
    zoho_item_id: str
    marker: str
    image_type: str


# -- files -----------------------------------------------------------------------------------

def extension_for(data: bytes, content_type: str, image_type: str = "") -> str:
    """The file extension: sniffed from the bytes first (same bytes → same name), then the headers."""
    for magic, ext in _SNIFF:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if content_type.lower() in _CONTENT_TYPES:
        return _CONTENT_TYPES[content_type.lower()]
    cleaned = "".join(ch for ch in image_type.lower().lstrip(".") if ch.isalnum())[:8]
    return {"jpeg": "jpg"}.get(cleaned, cleaned) or "bin"


URL_PREFIX = "/api/zoho/images/"
"""Where the receiver serves stored pictures (`webhook_app`); `products.image_url` starts with it."""
CONTENT_TYPE_OF = {ext: ctype for ctype, ext in reversed(list(_CONTENT_TYPES.items()))}


def image_url(sha: str, ext: str) -> str:
    return f"{URL_PREFIX}{sha}.{ext}"


def store_image(conn, data: bytes, ext: str) -> tuple[str, str, bool]:
    """`(sha256, url, written)`: the stored picture for these bytes, inserted unless it already exists.

    The key is the hash of the bytes, so concurrent runs on several hosts storing the same
    picture agree on one row (`ON CONFLICT DO NOTHING`); `written` says whether this call added it.
    """
    digest = hashlib.sha256(data).hexdigest()
    written = conn.execute(text(
        "INSERT INTO product_images (sha256, ext, content_type, size, data) VALUES (:s, :e, :c, :n, :d) "
        "ON CONFLICT (sha256) DO NOTHING RETURNING sha256"),
        {"s": digest, "e": ext, "c": CONTENT_TYPE_OF.get(ext, "application/octet-stream"), "n": len(data),
         "d": data}).first() is not None
    return digest, image_url(digest, ext), written


def load_image(sha: str) -> tuple[bytes, str, str] | None:
    """`(bytes, content type, ext)` of a stored picture, or None."""
    with get_engine().connect() as c:
        row = c.execute(text("SELECT data, content_type, ext FROM product_images WHERE sha256 = :s"),
                        {"s": sha}).first()
    return None if row is None else (bytes(row.data), row.content_type, row.ext)


def product_image_hash(zoho_item_id: str) -> str | None:
    """The sha256 of a product's current picture (None: no product, or no picture)."""
    with get_engine().connect() as c:
        return c.execute(text("SELECT image_hash FROM products WHERE zoho_item_id = :z AND image_url IS NOT NULL"),
                         {"z": zoho_item_id}).scalar()


# -- the run ---------------------------------------------------------------------------------

class ImageSync:
    """One run over the products whose picture is new or changed; plain code so the CLI can drive it."""

    def __init__(self, *, client=None, workers: int = DEFAULT_WORKERS,
                 limit: int = DEFAULT_LIMIT, max_seconds: float = DEFAULT_MAX_SECONDS, batch_size: int = BATCH_SIZE):
        self.engine = get_engine()
        if client is None:
            from zoho.client import ZohoClient

            # Like a pull, image downloads are background work: they wait for a call slot of the
            # shared budget as long as a window takes to free one, instead of failing.
            client = ZohoClient(pool_maxsize=max(2, workers), acquire_timeout=BUDGET_WAIT_SECONDS)
        self.client = client
        self.workers = max(1, workers)
        self.limit = max(0, limit)
        self.max_seconds = max_seconds
        self.batch_size = max(1, batch_size)
        self.stats = ImageStats()
        self.errors: list[str] = []
        self.run_id: int | None = None
        self._stored: list[dict[str, Any]] = []
        self._failed: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._abort_reason: str | None = None
        self._budget_stop: str | None = None

    # -- bookkeeping ----------------------------------------------------------------------
    def _start_run(self) -> None:
        with self.engine.begin() as c:
            self.run_id = c.execute(
                text("INSERT INTO tds_sync_runs (entity_type, kind, status) VALUES (:e, 'images', 'running') "
                     "RETURNING id"), {"e": RUN_ENTITY}).scalar_one()

    def _finish_run(self, status: str, error: str | None, started: float) -> None:
        s = self.stats
        with self.engine.begin() as c:
            c.execute(text(
                """
                UPDATE tds_sync_runs SET fetched = :checked, changed = :changed, skipped = :deferred,
                       failed = :failed, api_calls = :calls, status = :status, error_message = :error,
                       finished_at = now(), duration_ms = :ms, details = CAST(:details AS jsonb)
                 WHERE id = :id
                """),
                {"checked": s.checked, "changed": s.downloaded + s.reused + s.without_image, "deferred": s.deferred,
                 "failed": s.failed, "calls": s.api_calls, "status": status, "error": error,
                 "ms": int((time.monotonic() - started) * 1000), "id": self.run_id,
                 "details": json.dumps({**asdict(s), "store": STORE_NAME, "errors": self.errors[:20]})})

    def _flush(self, force: bool = False) -> None:
        """Write pending results once a batch is full (or now): bounded transactions, never one per product."""
        if not force and len(self._stored) + len(self._failed) < self.batch_size:
            return
        if not self._stored and not self._failed:
            return
        with self.engine.begin() as c:
            if self._stored:
                c.execute(text(_STORED), self._stored)
            if self._failed:
                c.execute(text(_FAILED), self._failed)
        self._stored, self._failed = [], []

    def _settle(self, product: Candidate, url: str | None, sha: str | None) -> None:
        self._stored.append({"id": product.id, "url": url, "sha": sha, "marker": product.marker})
        self._flush()

    def _fail(self, product: Candidate, error: str) -> None:
        self.stats.failed += 1
        if len(self.errors) < 100:
            self.errors.append(f"{product.zoho_item_id}: {error}")
        self._failed.append({"id": product.id, "error": error[:500]})
        self._flush()

    # -- choosing work --------------------------------------------------------------------
    def candidates(self) -> list[Candidate]:
        with self.engine.connect() as c:
            rows = c.execute(text(_SELECT), {"limit": self.limit}).all()
        return [Candidate(r.id, r.zoho_item_id, r.marker, r.image_type or "") for r in rows]

    def _known_files(self, markers: list[str]) -> dict[str, tuple[str, str]]:
        """marker → (url, sha) already stored for another product with the same Zoho image document."""
        if not markers:
            return {}
        with self.engine.connect() as c:
            rows = c.execute(text(
                "SELECT DISTINCT ON (image_synced_key) image_synced_key, image_url, image_hash FROM products "
                "WHERE image_synced_key = ANY(:m) AND image_url IS NOT NULL AND image_hash IS NOT NULL "
                "AND EXISTS (SELECT 1 FROM product_images i WHERE i.sha256 = products.image_hash) "
                "ORDER BY image_synced_key, id"), {"m": markers}).all()
        return {r.image_synced_key: (r.image_url, r.image_hash) for r in rows}

    # -- one download ---------------------------------------------------------------------
    def _fetch(self, product: Candidate) -> tuple[str, str, bool] | None:
        """`(sha, url, written)` of the item's picture, or None when Zoho has none. Runs on a pool thread."""
        if self._stop.is_set():
            raise _Deferred()
        if not (product.zoho_item_id.isascii() and product.zoho_item_id.isdigit()):
            # a Zoho id is digits: anything else (`..`, `1/../x`) must never shape the image URL's path
            raise PermanentError(f"not a Zoho item id: {product.zoho_item_id[:40]!r}")
        try:
            found = self.client.get_item_image(product.zoho_item_id, priority="bulk")
        except RateLimited as e:
            # The call budget is spent for longer than a window's wait: not this picture's fault.
            # Stop, and leave it and every other one (deferred, not failed) for the next run.
            self._budget_stop = f"{type(e).__name__}: {e}"[:500]
            self._stop.set()
            raise _Deferred() from e
        except AuthError as e:
            # Every other product would fail the same way: stop, and leave them for the next run.
            self._abort_reason = f"{type(e).__name__}: {e}"[:500]
            self._stop.set()
            raise
        if found is None:
            return None
        data, content_type = found
        with self.engine.begin() as c:
            return store_image(c, data, extension_for(data, content_type, product.image_type))

    # -- the run --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        calls_before = self.client.calls_made
        self._start_run()
        status, error = "completed", None
        try:
            self._run(started)
        except Exception as e:
            status, error = "failed", f"{type(e).__name__}: {e}"[:2000]
            log.warning("image sync failed: %s", error, extra={"entity": "products"})
            raise
        finally:
            try:
                self._flush(force=True)
            finally:
                self.stats.api_calls = self.client.calls_made - calls_before
                if status == "completed" and self._abort_reason:
                    status, error = "failed", f"stopped early: {self._abort_reason}"
                elif status == "completed" and self._budget_stop:
                    status, error = "rate_limited", f"waiting for the call budget: {self._budget_stop}"
                self._finish_run(status, error, started)
        return self.summary(status, error)

    def _run(self, started: float) -> None:
        products = self.candidates()
        self.stats.checked = len(products)
        # Group by Zoho image document: products sharing one need one download. Name-only markers
        # ('/x.jpg') and unknown ones ('?') say nothing unique about the picture, so they stay single.
        groups: dict[str, list[Candidate]] = {}
        for p in products:
            if p.marker == NO_IMAGE:
                self.stats.without_image += 1
                self._settle(p, None, None)
            elif p.marker == UNKNOWN or p.marker.startswith("/"):
                groups[f"#{p.id}"] = [p]
            else:
                groups.setdefault(p.marker, []).append(p)
        known = self._known_files([m for m in groups if not m.startswith("#")])
        queue: deque[list[Candidate]] = deque()
        for marker, members in groups.items():
            if marker in known:
                url, sha = known[marker]
                for p in members:
                    self.stats.reused += 1
                    self._settle(p, url, sha)
            else:
                queue.append(members)

        in_flight: dict[Future, list[Candidate]] = {}
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="zohosync-images") as pool:
            while queue or in_flight:
                while queue and len(in_flight) < self.workers * 2 and not self._stop.is_set():
                    if time.monotonic() - started > self.max_seconds:
                        self._stop.set()
                        break
                    members = queue.popleft()
                    in_flight[pool.submit(self._fetch, members[0])] = members
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    self._collect(in_flight.pop(future), future)
        for members in queue:
            self.stats.deferred += len(members)

    def _collect(self, members: list[Candidate], future: Future) -> None:
        try:
            result = future.result()
        except _Deferred:
            self.stats.deferred += len(members)
            return
        except (SyncError, OSError, SQLAlchemyError) as e:
            message = f"{type(e).__name__}: {e}"[:500]
            log.warning("product image not fetched: %s", message,
                        extra={"entity": "products", "entity_id": members[0].zoho_item_id})
            for p in members:
                self._fail(p, message)
            return
        if result is None:
            for p in members:
                self.stats.without_image += 1
                self._settle(p, None, None)
            return
        sha, url, written = result
        self.stats.downloaded += 1
        self.stats.files_written += int(written)
        for i, p in enumerate(members):
            if i or not written:
                self.stats.reused += 1
            self._settle(p, url, sha)

    def summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        return {"run_id": self.run_id, "status": status, **asdict(self.stats), "store": STORE_NAME,
                **({"error": error} if error else {})}


class _Deferred(Exception):
    """The run stopped (budget, credentials, time) before this download started."""


def _redis() -> redis.Redis:
    """The coordination store (`REDIS_URL`), never the broker: locks work with any broker."""
    return coord.client(socket_connect_timeout=3, socket_timeout=10)


def sync_product_images(**options: Any) -> dict[str, Any]:
    """One run under a fleet-wide lock; raises `ImageSyncLocked` when one is already running."""
    lock = _redis().lock("zohosync:lock:images.sync_products", timeout=LOCK_TTL_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        raise ImageSyncLocked("an image sync is already running")
    try:
        return ImageSync(**options).run()
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("image sync lock expired before the run finished")


@app.task(name="images.sync_products", acks_late=False, ignore_result=True, soft_time_limit=30 * 60,
          time_limit=31 * 60)
def sync_products(limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """Download new or changed product images (see the module docstring).

    Acknowledged on receipt: an interrupted run loses nothing, since the next one
    selects whatever was not settled.
    """
    try:
        return sync_product_images(limit=limit)
    except ImageSyncLocked as e:
        log.info(str(e), extra={"entity": "products"})
        return {"status": "skipped", "reason": "already running"}


__all__ = ["URL_PREFIX", "ImageSync", "ImageSyncLocked", "extension_for", "image_url", "load_image",
           "product_image_hash", "store_image", "sync_product_images", "sync_products"]

"""The dashboard in a real headless Chromium against a real gunicorn receiver: numbers, escaping, retry buttons, screenshot."""
from __future__ import annotations

import shutil
import tempfile

import pytest
from sqlalchemy import text

from scripts import ensure_chromium as chromium
from tasks.monitor import take_snapshot
from tests.conftest import TEST_ADMIN_TOKEN
from tests.support.procs import ROOT, child_env, free_port, launch_receiver, wait_for, wait_http
from tests.tasks.test_health import seed, seed_dead_letters

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "artifacts"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOSTILE_ERROR = "<script>alert('pwned')</script> Zoho answered <b>HTTP 500</b>"


def ensure_chromium() -> None:
    """Chromium as `make test` installs it: waits for the install it started in the background (or installs it
    now); skips only where it truly cannot be installed."""
    status = chromium.main([])
    if not chromium.present():
        why = chromium.cannot_install()
        if why:
            pytest.skip(why)
    assert status == 0 and chromium.present(), "apt-get could not install chromium chromium-driver"


@pytest.fixture(scope="module")
def receiver(database_url):
    """The receiver's URL; gunicorn boots while Chromium starts and the test seeds (`up` waits for it)."""
    port = free_port()
    proc = launch_receiver(child_env(), port)
    url = f"http://127.0.0.1:{port}"
    yield url, lambda: wait_http(f"{url}/healthz", proc)
    proc.stop()


@pytest.fixture
def browser():
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="zohosync-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium.CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}", "--window-size=1400,1000"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromium.CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def scalar(db, sql, **p):
    with db.connect() as c:
        return c.execute(text(sql), p).scalar()


def seed_a_day_of_work(db) -> dict[str, int]:
    """A realistic afternoon: a rising flow of applied events, a small backlog, retries and dead letters."""
    with db.begin() as c:
        c.execute(text(
            """
            INSERT INTO tds_sync_queue (entity_type, entity_id, operation, status, payload, payload_hash, dedupe_key,
                                        created_at, updated_at, completed_at)
            SELECT (ARRAY['products','customers','invoices','stock','vendors','products'])[1 + g % 6],
                   (2646610000000000000 + g)::text, 'upsert', 'completed',
                   jsonb_build_object('item', jsonb_build_object('item_id', (2646610000000000000 + g)::text)),
                   md5(g::text), md5('day' || g::text), t.ts, t.ts, t.ts + make_interval(secs => 1 + (g * 7) % 45)
              FROM generate_series(1, 3000) AS g
             CROSS JOIN LATERAL (SELECT now() - make_interval(secs => 21000 * power(g / 3000.0, 1.4) + 60) AS ts) t
            """))
    seed(db, 12, "pending", "products", age_minutes=2)
    seed(db, 3, "pending", "invoices", age_minutes=41)
    seed(db, 2, "processing", "customers", age_minutes=0.2)
    seed(db, 5, "failed", "invoices", error="TransientError: Zoho answered HTTP 503 (attempt 2 of 5)")
    seed(db, 1, "failed", "customers", error="RateLimited: Zoho code 44 — too many requests, retry after 60 s")
    seed(db, 1, "failed", "products", error=HOSTILE_ERROR)
    dead = seed_dead_letters(db, 2, entity="products",
                             error="rate: '12,5' is not a number (item 2646610000000113826)")
    dead += seed_dead_letters(db, 1, entity="invoices", error="Zoho code 1002 — invoice does not exist",
                              error_class="PermanentError")
    take_snapshot(probe_workers=False, zoho=False)  # two snapshots a minute apart: the `failed` warning
    with db.begin() as c:                             # becomes an alert (hysteresis counts time)
        c.execute(text("UPDATE tds_metrics SET recorded_at = recorded_at - interval '60 seconds'"))
    take_snapshot(probe_workers=False, zoho=False)
    return {"dead": dead}


def text_of(driver, css: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css).text.strip()


def test_the_dashboard_in_chromium_matches_the_database_and_its_retry_button_works(db, redis_client, receiver,
                                                                                  browser):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    receiver, up = receiver
    seeded = seed_a_day_of_work(db)

    up()
    browser.get(f"{receiver}/dashboard")
    assert "admin token" in browser.page_source  # the login form, not the dashboard
    browser.get_log("browser")  # that 401 is expected; from here on the console must stay clean
    field = browser.find_element(By.CSS_SELECTOR, "input[name='admin_token']")
    field.send_keys(TEST_ADMIN_TOKEN)
    field.submit()  # a POST: the token never enters a URL
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "overall-status"))
    assert browser.current_url == f"{receiver}/dashboard"
    cookie = browser.get_cookie("zohosync_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and TEST_ADMIN_TOKEN not in cookie["value"]
    assert TEST_ADMIN_TOKEN not in browser.page_source

    # The numbers are the database's.
    counts = {s: scalar(db, "SELECT count(*) FROM tds_sync_queue WHERE status = :s", s=s)
              for s in ("pending", "processing", "failed", "dead")}
    assert text_of(browser, "#count-pending") == str(counts["pending"]) == "15"
    assert text_of(browser, "#count-processing") == str(counts["processing"])
    assert text_of(browser, "#count-failed") == str(counts["failed"]) == "7"
    assert text_of(browser, "#count-dead") == str(counts["dead"])
    unresolved = scalar(db, "SELECT count(*) FROM tds_dead_letter_queue WHERE resolved_at IS NULL")
    assert text_of(browser, "#count-dead-letters") == str(unresolved) == "3"
    applied = scalar(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed' "
                         "AND completed_at >= now() - interval '24 hours'")
    assert text_of(browser, "#count-completed-24h") == str(applied)
    for entity in ("products", "invoices", "customers"):
        row = f"tr[data-entity='{entity}']"
        assert text_of(browser, f"{row} td.pending") == str(scalar(
            db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'pending' AND entity_type = :e", e=entity))
        assert text_of(browser, f"{row} td.failed") == str(scalar(
            db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'failed' AND entity_type = :e", e=entity))
    assert text_of(browser, "#overall-status").lower() == "critical"  # no worker runs in this test
    bars = browser.find_elements(By.CSS_SELECTOR, "#rate-chart rect.bar")
    assert len(bars) >= 36 and sum(int(b.get_attribute("data-count")) for b in bars) > 0
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-alert='health.failed']")
    flower = browser.find_element(By.ID, "flower-link").get_attribute("href")
    assert flower == "http://127.0.0.1:5555/"

    # Text from outside is shown as text, never run.
    hostile = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#failures td.err")]
    assert any("<script>alert('pwned')</script>" in t and "<b>HTTP 500</b>" in t for t in hostile)
    assert not browser.find_elements(By.CSS_SELECTOR, "#failures td.err script, #failures td.err b")
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018

    ARTIFACTS.mkdir(exist_ok=True)
    for _ in range(3):  # grow the window until the whole page fits the viewport
        gap = browser.execute_script("return document.documentElement.scrollHeight - window.innerHeight")
        if gap <= 0:
            break
        browser.set_window_size(1400, min(browser.get_window_size()["height"] + gap + 20, 5000))
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 20_000

    # A dead letter's retry button sends its event back to pending, through the admin API.
    target = seeded["dead"][0]
    browser.find_element(By.CSS_SELECTOR, f"tr[data-event-id='{target}'] button.retry").click()
    wait_for(lambda: scalar(db, "SELECT status FROM tds_sync_queue WHERE id = :i", i=target) == "pending",
             timeout=15, message="the retried event is pending again")
    assert scalar(db, "SELECT resolution_notes FROM tds_dead_letter_queue WHERE original_id = :i", i=target) == "retried"
    assert scalar(db, "SELECT actor FROM tds_audit_trail WHERE action = 'retry'") == "admin-api"
    WebDriverWait(browser, 20).until(lambda d: text_of(d, "#count-dead-letters") == "2")
    assert not browser.find_elements(By.CSS_SELECTOR, f"tr[data-event-id='{target}']")
    assert text_of(browser, "#count-pending") == "16"

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == [], severe  # no CSP violation, no failed request, no script error

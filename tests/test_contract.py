"""docs/reference.md, item by item: every public name exists in the code and answers as documented.

The reference's own tables (processes, environment variables, endpoints, tables, tasks,
command line, health thresholds) are parsed here and each row is checked against the code,
both ways: a documented name the code lacks fails, and so does a public name of the code
that the reference does not list. One test id per item, so a failure names the item.
Runs against the real test PostgreSQL (migrated by Alembic) and Redis of `tests/conftest.py`.
Items that are known, reported deviations are `xfail(strict=True)`: they flip to a
failure the day the gap is closed, so the marker gets removed.
"""
from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from models.db import reset_engine
from models.settings import load_settings, reset_settings
from tests.conftest import TEST_ADMIN_TOKEN, TEST_WEBHOOK_SECRET
from tests.support.webhooks import body_of, item, sign, signed_post

ROOT = Path(__file__).resolve().parent.parent
ZOHO_ID = "2646610000000113826"
LMT = "2025-11-04T21:52:11+0300"
ADMIN = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}

# ----------------------------------------------------------------------------- 3 / §5 entities

# URL name → (record key Zoho puts the record under, its id field)
WEBHOOK_ENTITIES = {
    "products": ("item", "item_id"),
    "customers": ("contact", "contact_id"),
    "vendors": ("contact", "contact_id"),
    "invoices": ("invoice", "invoice_id"),
    "bills": ("bill", "bill_id"),
    "credit-notes": ("creditnote", "creditnote_id"),
    "stock": ("item", "item_id"),
    "prices": ("pricebook", "pricebook_id"),
    "warehouses": ("warehouse", "warehouse_id"),
    "payments": ("payment", "payment_id"),
    "sales-orders": ("salesorder", "salesorder_id"),
    "purchase-orders": ("purchaseorder", "purchaseorder_id"),
    "contacts": ("contact", "contact_id"),
}
WEBHOOK_ENTITIES.update({  # the seeds' remaining sources (keys as Zoho's spec in zoho-openapi/ gives them)
    "inventory-adjustments": ("inventory_adjustment", "inventory_adjustment_id"),
    "transfer-orders": ("transfer_order", "transfer_order_id"),
    "composite-items": ("composite_item", "composite_item_id"),
    "item-groups": ("itemgroup", "group_id"),
    "vendor-credits": ("vendor_credit", "vendor_credit_id"),
})
PULLED_ENTITIES = [e for e in WEBHOOK_ENTITIES if e != "contacts"]  # contacts: a route; customers/vendors pull

# §5 table: entity → (service, [(path, fixed params)], list key, record key)
ZOHO_SOURCES = {
    "products": ("inventory", [("/items", {})], "items", "item"),
    "customers": ("books", [("/contacts", {"contact_type": "customer"})], "contacts", "contact"),
    "vendors": ("books", [("/contacts", {"contact_type": "vendor"})], "contacts", "contact"),
    "invoices": ("books", [("/invoices", {})], "invoices", "invoice"),
    "bills": ("books", [("/bills", {})], "bills", "bill"),
    "credit-notes": ("books", [("/creditnotes", {})], "creditnotes", "creditnote"),
    "stock": ("inventory", [("/items", {})], "items", "item"),
    "prices": ("inventory", [("/pricebooks", {})], "pricebooks", "pricebook"),
    "warehouses": ("inventory", [("/warehouses", {})], "warehouses", "warehouse"),
    "payments": ("books", [("/customerpayments", {}), ("/vendorpayments", {})], "customerpayments", "payment"),
    "sales-orders": ("books", [("/salesorders", {})], "salesorders", "salesorder"),
    "purchase-orders": ("books", [("/purchaseorders", {})], "purchaseorders", "purchaseorder"),
}
ZOHO_SOURCES.update({  # where the spec and the §5 table differ, the spec wins (Books' list key `vendorcredits`)
    "inventory-adjustments": ("inventory", [("/inventoryadjustments", {})], "inventory_adjustments",
                              "inventory_adjustment"),
    "transfer-orders": ("inventory", [("/transferorders", {})], "transfer_orders", "transfer_order"),
    "composite-items": ("inventory", [("/compositeitems", {})], "composite_items", "composite_item"),
    "item-groups": ("inventory", [("/itemgroups", {})], "itemgroups", "itemgroup"),
    "vendor-credits": ("books", [("/vendorcredits", {})], "vendorcredits", "vendor_credit"),
})
ENTITY_TABLE = {
    "products": "products", "customers": "customers", "vendors": "vendors", "invoices": "invoices",
    "bills": "bills", "credit-notes": "credit_notes", "stock": "stock_levels", "prices": "price_lists",
    "warehouses": "warehouses", "payments": "payments", "sales-orders": "sales_orders",
    "purchase-orders": "purchase_orders",
}
ENTITY_TABLE.update({"inventory-adjustments": "inventory_adjustments", "transfer-orders": "transfer_orders",
                     "composite-items": "composite_items", "item-groups": "item_groups",
                     "vendor-credits": "vendor_credits"})

# ----------------------------------------------------------------------------- 4 tables

QUEUE_TABLES = ["tds_sync_queue", "tds_dead_letter_queue", "tds_sync_runs", "tds_sync_cursors", "tds_audit_trail",
                "tds_alerts", "tds_metrics", "zoho_tokens"]
ZOHO_KEYS = {  # ERP table → its unique Zoho key
    "products": "zoho_item_id", "customers": "zoho_contact_id", "vendors": "zoho_contact_id",
    "invoices": "zoho_invoice_id", "bills": "zoho_bill_id", "credit_notes": "zoho_creditnote_id",
    "warehouses": "zoho_warehouse_id", "price_lists": "zoho_pricebook_id", "payments": "zoho_payment_id",
    "sales_orders": "zoho_salesorder_id", "purchase_orders": "zoho_purchaseorder_id",
}
ZOHO_KEYS.update({"inventory_adjustments": "zoho_inventory_adjustment_id", "transfer_orders": "zoho_transfer_order_id",
                  "composite_items": "zoho_composite_item_id", "item_groups": "zoho_group_id",
                  "vendor_credits": "zoho_vendor_credit_id"})
LINE_TABLES = {  # line table → (parent pointer column, parent table)
    "invoice_line_items": ("invoice_id", "invoices"),
    "bill_line_items": ("bill_id", "bills"),
    "credit_note_line_items": ("credit_note_id", "credit_notes"),
    "price_list_items": ("price_list_id", "price_lists"),
    "sales_order_line_items": ("sales_order_id", "sales_orders"),
    "purchase_order_line_items": ("purchase_order_id", "purchase_orders"),
}
LINE_TABLES.update({
    "inventory_adjustment_line_items": ("inventory_adjustment_id", "inventory_adjustments"),
    "transfer_order_line_items": ("transfer_order_id", "transfer_orders"),
    "composite_item_components": ("composite_item_id", "composite_items"),
    "vendor_credit_line_items": ("vendor_credit_id", "vendor_credits"),
})
ERP_TABLES = list(ZOHO_KEYS) + ["stock_levels"] + list(LINE_TABLES)
DOCUMENTS = {  # table → (<doc> prefix, party Zoho id column)
    "invoices": ("invoice", "zoho_customer_id"),
    "bills": ("bill", "zoho_vendor_id"),
    "credit_notes": ("creditnote", "zoho_customer_id"),
    "sales_orders": ("salesorder", "zoho_customer_id"),
    "purchase_orders": ("purchaseorder", "zoho_vendor_id"),
}

N, D, TZ, J, T, B, INT = "numeric", "date", "timestamp with time zone", "jsonb", "text", "boolean", "integer"
TEXTUAL = ("text", "character varying")
INTEGRAL = ("integer", "bigint", "smallint")


def _columns() -> list[tuple[str, str, object]]:
    """(table, column, expected data_type or tuple of accepted ones) for every column docs/reference.md#tables names."""
    cols: list[tuple[str, str, object]] = []
    q = "tds_sync_queue"
    cols += [(q, "id", INTEGRAL), (q, "entity_type", TEXTUAL), (q, "entity_id", TEXTUAL), (q, "operation", TEXTUAL),
             (q, "status", TEXTUAL), (q, "retry_count", INTEGRAL), (q, "max_retries", INTEGRAL), (q, "payload", J),
             (q, "payload_hash", TEXTUAL), (q, "error_message", TEXTUAL), (q, "locked_until", TZ),
             (q, "celery_task_id", TEXTUAL), (q, "created_at", TZ), (q, "updated_at", TZ), (q, "completed_at", TZ)]
    d = "tds_dead_letter_queue"
    cols += [(d, "original_id", INTEGRAL), (d, "entity_type", TEXTUAL), (d, "entity_id", TEXTUAL),
             (d, "operation", TEXTUAL), (d, "payload", J), (d, "error_message", TEXTUAL), (d, "failed_at", TZ),
             (d, "resolution_notes", TEXTUAL), (d, "resolved_at", TZ)]
    for table, key in ZOHO_KEYS.items():
        cols += [(table, "id", INTEGRAL), (table, key, TEXTUAL), (table, "last_synced_at", TZ),
                 (table, "zoho_last_modified_at", TZ), (table, "is_active", B)]
    s = "stock_levels"
    cols += [(s, "id", INTEGRAL), (s, "product_id", INTEGRAL), (s, "warehouse_id", INTEGRAL),
             (s, "stock_on_hand", N), (s, "available_stock", N), (s, "last_synced_at", TZ),
             (s, "zoho_last_modified_at", TZ)]
    for line, (fk, _parent) in LINE_TABLES.items():
        cols += [(line, "id", INTEGRAL), (line, fk, INTEGRAL)]
    p = "products"
    cols += [(p, c, TEXTUAL) for c in ("name", "name_ar", "description", "description_ar", "sku", "unit", "brand",
                                       "image_url")]
    cols += [(p, c, N) for c in ("unit_price", "cost_price", "consumer_price", "wholesale_price", "available_stock")]
    for party, outstanding in (("customers", "outstanding_receivable"), ("vendors", "outstanding_payable")):
        cols += [(party, c, TEXTUAL) for c in ("name", "company_name", "email", "phone", "mobile", "currency_code")]
        cols += [(party, "payment_terms", INTEGRAL), (party, "credit_limit", N), (party, outstanding, N),
                 (party, "billing_address", TEXTUAL), (party, "shipping_address", TEXTUAL)]
    for table, (doc, party_key) in DOCUMENTS.items():
        cols += [(table, f"{doc}_number", TEXTUAL), (table, f"{doc}_date", D), (table, "due_date", D),
                 (table, "status", TEXTUAL), (table, "currency_code", TEXTUAL), (table, "total", N),
                 (table, "balance", N), (table, party_key, TEXTUAL)]
    cols += [("payments", "payment_date", D), ("payments", "amount", N), ("price_list_items", "pricebook_rate", N)]
    return cols


COLUMNS = _columns()


@pytest.fixture(scope="module")
def schema(database_url):
    """{table: {column: data_type}} of the migrated test database, plus unique indexes and foreign keys."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url)
    with engine.connect() as c:
        rows = c.execute(text("SELECT table_name, column_name, data_type FROM information_schema.columns "
                              "WHERE table_schema = 'public'")).all()
        uniques = c.execute(text(
            "SELECT t.relname, array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE n.nspname = 'public' AND i.indisunique AND i.indpred IS NULL "
            "GROUP BY i.indexrelid, t.relname")).all()
        fks = c.execute(text(
            "SELECT tc.table_name, kcu.column_name, ccu.table_name, ccu.column_name "
            "FROM information_schema.table_constraints tc "
            "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
            "JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = tc.constraint_name "
            "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = 'public'")).all()
        checks = c.execute(text("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                                "WHERE contype = 'c'")).all()
    engine.dispose()
    tables: dict[str, dict[str, str]] = {}
    for t, col, typ in rows:
        tables.setdefault(t, {})[col] = typ
    return {"tables": tables, "uniques": {(t, tuple(cols)) for t, cols in uniques},
            "fks": {tuple(r) for r in fks}, "checks": checks}


@pytest.mark.parametrize("table", QUEUE_TABLES + ERP_TABLES)
def test_table_exists(schema, table):
    assert table in schema["tables"], f"docs/reference.md#tables: table {table} missing"


@pytest.mark.parametrize("table", QUEUE_TABLES + ERP_TABLES)
def test_table_has_integer_id(schema, table):
    assert schema["tables"].get(table, {}).get("id") in INTEGRAL, \
        f"docs/reference.md#tables: {table}.id (integer) missing"


@pytest.mark.parametrize("table, column, expected", COLUMNS, ids=[f"{t}.{c}" for t, c, _ in COLUMNS])
def test_column_exists_with_contract_type(schema, table, column, expected):
    actual = schema["tables"].get(table, {}).get(column)
    assert actual is not None, f"docs/reference.md#tables: column {table}.{column} missing"
    accepted = expected if isinstance(expected, tuple) else (expected,)
    assert actual in accepted, f"docs/reference.md#tables: {table}.{column} is {actual}, contract wants {accepted}"


@pytest.mark.parametrize("table, key", list(ZOHO_KEYS.items()), ids=[f"{t}.{k}" for t, k in ZOHO_KEYS.items()])
def test_zoho_key_is_unique(schema, table, key):
    assert (table, (key,)) in schema["uniques"], f"docs/reference.md#tables: {table}.{key} must be unique"


def test_stock_levels_unique_per_product_and_warehouse(schema):
    assert ("stock_levels", ("product_id", "warehouse_id")) in schema["uniques"]


@pytest.mark.parametrize("line", list(LINE_TABLES))
def test_line_table_points_at_parent_id(schema, line):
    fk, parent = LINE_TABLES[line]
    assert (line, fk, parent, "id") in schema["fks"], f"docs/reference.md#tables: {line}.{fk} → {parent}.id"


@pytest.mark.parametrize("ref", [("stock_levels", "product_id", "products"),
                                 ("stock_levels", "warehouse_id", "warehouses")], ids=lambda r: f"{r[0]}.{r[1]}")
def test_stock_levels_reference_product_and_warehouse(schema, ref):
    assert (*ref, "id") in schema["fks"]


@pytest.mark.parametrize("table", ERP_TABLES)
def test_erp_money_is_never_float_and_times_are_timestamptz(schema, table):
    cols = schema["tables"][table]
    floats = [c for c, t in cols.items() if t in ("double precision", "real")]
    naive = [c for c, t in cols.items() if t == "timestamp without time zone"]
    assert not floats, f"docs/reference.md#tables: money is NUMERIC, never float ({table}: {floats})"
    assert not naive, f"docs/reference.md#tables: times are TIMESTAMPTZ ({table}: {naive})"


@pytest.mark.parametrize("table", QUEUE_TABLES)
def test_queue_mirror_times_are_timestamptz(schema, table):
    naive = [c for c, t in schema["tables"][table].items() if t == "timestamp without time zone"]
    assert not naive, f"docs/reference.md#tables: times are TIMESTAMPTZ ({table}: {naive})"


@pytest.mark.parametrize("status", ["pending", "processing", "completed", "failed", "dead"])
def test_sync_queue_status_values(schema, status):
    defs = [d for t, d in schema["checks"] if t == "tds_sync_queue" and "status" in d]
    assert defs and all(f"'{status}'" in d for d in defs), f"tds_sync_queue.status must allow {status!r}"
    from models.queue import EVENT_STATUSES

    assert status in EVENT_STATUSES


# ----------------------------------------------------------------------------- 2 configuration

SETTINGS_ENV = [
    "DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "ZOHO_WEBHOOK_SECRET", "ZOHO_CLIENT_ID",
    "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID", "ZOHO_DC", "ZOHO_API_BASE_URL",
    "ZOHO_ACCOUNTS_URL", "ZOHO_RATE_LIMIT_PER_MINUTE", "ZOHO_CONSUMER_PRICEBOOK", "ZOHO_WHOLESALE_PRICEBOOK",
    "ADMIN_TOKEN", "ZOHO_DAILY_CALL_BUDGET", "WEB_PORT", "FLOWER_PORT", "SANDBOX_PORT",
]
# variable → (Settings attribute, documented default, a value to set, what the attribute then holds)
ENV_SETTINGS = {
    "DATABASE_URL": ("database_url", "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync",
                     "postgresql+psycopg2://u@db:5432/x", None),
    "CELERY_BROKER_URL": ("broker_url", "redis://127.0.0.1:6379/0", "redis://r:6379/3", None),
    "CELERY_RESULT_BACKEND": ("result_backend", None, "redis://r:6379/4", None),
    "ZOHO_WEBHOOK_SECRET": ("webhook_secret", None, "s3cret", None),
    "ZOHO_CLIENT_ID": ("zoho_client_id", None, "1000.ABC", None),
    "ZOHO_CLIENT_SECRET": ("zoho_client_secret", None, "cs", None),
    "ZOHO_REFRESH_TOKEN": ("zoho_refresh_token", None, "1000.rt", None),
    "ZOHO_ORGANIZATION_ID": ("zoho_organization_id", None, "10234695", None),
    "ZOHO_DC": ("zoho_dc", "com", "eu", None),
    "ZOHO_API_BASE_URL": ("zoho_api_base_url", "https://www.zohoapis.com", "http://127.0.0.1:8765", None),
    "ZOHO_ACCOUNTS_URL": ("zoho_accounts_url", "https://accounts.zoho.com", "http://127.0.0.1:8765", None),
    "ZOHO_RATE_LIMIT_PER_MINUTE": ("zoho_rate_limit_per_minute", 100, "60", 60),
    "ZOHO_DAILY_CALL_BUDGET": ("zoho_daily_call_budget", None, "2500", 2500),
    "ZOHO_CONSUMER_PRICEBOOK": ("consumer_pricebook", "Consumer Price List", "Retail", None),
    "ZOHO_WHOLESALE_PRICEBOOK": ("wholesale_pricebook", "Wholesale Price List", "Trade", None),
    "ADMIN_TOKEN": ("admin_token", None, "adm", None),
    "WEB_PORT": ("web_port", 8000, "9000", 9000),
    "FLOWER_PORT": ("flower_port", 5555, "5556", 5556),
    "SANDBOX_PORT": ("sandbox_port", 8765, "8766", 8766),
}
DATA_CENTRES = {
    "com": ("https://www.zohoapis.com", "https://accounts.zoho.com"),
    "eu": ("https://www.zohoapis.eu", "https://accounts.zoho.eu"),
    "in": ("https://www.zohoapis.in", "https://accounts.zoho.in"),
    "com.au": ("https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
    "jp": ("https://www.zohoapis.jp", "https://accounts.zoho.jp"),
    "ca": ("https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
    "sa": ("https://www.zohoapis.sa", "https://accounts.zoho.sa"),
    "com.cn": ("https://www.zohoapis.com.cn", "https://accounts.zoho.com.cn"),
}


@pytest.fixture
def bare_env(monkeypatch):
    """No contract variable set, no `.env` read; the process environment is restored afterwards."""
    saved = dict(os.environ)
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ZOHOSYNC_ENV_FILE", "/nonexistent/.env")
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)
    reset_settings()


@pytest.mark.parametrize("var", list(ENV_SETTINGS))
def test_env_var_default(bare_env, var):
    attr, default, _value, _parsed = ENV_SETTINGS[var]
    if var == "ZOHO_DAILY_CALL_BUDGET":  # docs/entities.md: Zoho plans allow 1,000–10,000 a day
        assert 1000 <= getattr(load_settings(), attr) <= 10000
        return
    assert getattr(load_settings(), attr) == default, f"docs/reference.md#configuration: {var} default"


@pytest.mark.parametrize("var", list(ENV_SETTINGS))
def test_env_var_is_read(bare_env, var):
    attr, _default, value, parsed = ENV_SETTINGS[var]
    bare_env.setenv(var, value)
    assert getattr(load_settings(), attr) == (value if parsed is None else parsed), \
        f"docs/reference.md#configuration: {var} not read"


@pytest.mark.parametrize("dc", list(DATA_CENTRES))
def test_zoho_dc_derives_hosts(bare_env, dc):
    bare_env.setenv("ZOHO_DC", dc)
    s = load_settings()
    assert (s.zoho_api_base_url, s.zoho_accounts_url) == DATA_CENTRES[dc]


def test_zoho_dc_unknown_is_refused(bare_env):
    bare_env.setenv("ZOHO_DC", "mars")
    with pytest.raises(ValueError, match="ZOHO_DC"):
        load_settings()


@pytest.mark.parametrize("creds, sandbox", [({}, True),
                                            ({"ZOHO_CLIENT_ID": "a", "ZOHO_CLIENT_SECRET": "b",
                                              "ZOHO_REFRESH_TOKEN": "c"}, False)], ids=["none", "all-three"])
def test_no_zoho_credentials_means_sandbox_mode(bare_env, creds, sandbox):
    for k, v in creds.items():
        bare_env.setenv(k, v)
    assert load_settings().sandbox_mode is sandbox


def test_dotenv_file_is_read_and_environment_wins(bare_env, tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("ZOHO_ORGANIZATION_ID=777\nWEB_PORT=8100\n")
    bare_env.setenv("ZOHOSYNC_ENV_FILE", str(env_file))
    bare_env.setenv("WEB_PORT", "8200")
    s = load_settings()
    assert (s.zoho_organization_id, s.web_port) == ("777", 8200)


@pytest.mark.parametrize("secret_attr", ["webhook_secret", "zoho_client_secret", "zoho_refresh_token", "admin_token"])
def test_secrets_stay_out_of_settings_repr(bare_env, secret_attr):
    for var, (attr, *_rest) in ENV_SETTINGS.items():
        if attr == secret_attr:
            bare_env.setenv(var, "TOPSECRET-VALUE")
    assert "TOPSECRET-VALUE" not in repr(load_settings())


# ----------------------------------------------------------------------------- 1 entry points, Makefile

@pytest.mark.parametrize("target", ["run", "test"])
def test_makefile_target(target):
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}\s*:", makefile, re.M), f"docs/reference.md#processes: `make {target}` missing"
    assert re.search(rf"^\.PHONY:.*\b{target}\b", makefile, re.M)


def test_make_test_runs_pytest_and_make_run_starts_the_stack():
    makefile = (ROOT / "Makefile").read_text()
    recipe = lambda t: re.search(rf"^{t}\s*:.*\n((?:\t.*\n?)*)", makefile, re.M).group(1)  # noqa: E731
    assert "pytest" in recipe("test") and "scripts/bootstrap.py" in recipe("test") and "ruff check" in recipe("test")
    assert "zohosync stack" in recipe("run") and re.search(r"^run\s*:.*\bmigrate\b", makefile, re.M)


def test_ci_runs_exactly_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^(exec )?make test\s*$", ci, re.M)
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


@pytest.mark.parametrize("service", ["web", "beat", "flower", "postgres", "redis"])
def test_docker_compose_service(service):
    compose = (ROOT / "docker-compose.yml").read_text()
    assert re.search(rf"^  {service}[\w-]*:\s*$", compose, re.M), f"docker-compose.yml: no {service} service"


def test_wsgi_entry_point_and_factory():
    from flask import Flask

    import webhook_app
    import webhook_app.wsgi

    assert isinstance(webhook_app.wsgi.app, Flask)
    assert callable(webhook_app.create_app)


def test_celery_app_is_tasks():
    from celery import Celery

    import tasks

    assert isinstance(tasks.app, Celery) and tasks.celery is tasks.app
    assert tasks.app.main == "tasks"


def test_console_command_zohosync_is_declared():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("zohosync") == "tasks.cli:main"


def test_requires_python_311():
    import tomllib

    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11"


@pytest.fixture
def procfile():
    """The Procfile's commands: fixed text, whatever WEB_PORT / FLOWER_PORT / SANDBOX_PORT the shell sets."""
    from tasks.stack import read_procfile

    return {name: command.split() for name, command in read_procfile().items()}


@pytest.mark.parametrize("name, needle", [
    ("web", "webhook_app.wsgi:app"), ("beat", "beat"), ("flower", "flower"), ("sandbox", "sandbox"),
    ("watchdog", "watchdog"),
])
def test_stack_starts(procfile, name, needle):
    assert name in procfile, f"docs/reference.md#processes: `make run` must start {name}"
    assert needle in procfile[name], f"{name}: {procfile[name]}"


def test_stack_has_one_worker_per_queue_group_covering_every_queue(procfile):
    import tasks

    consumed = set()
    for name, argv in procfile.items():
        if name.startswith("worker-"):
            consumed.update(argv[argv.index("-Q") + 1].split(","))
    assert consumed == {q.name for q in tasks.app.conf.task_queues}


def test_stack_without_sandbox_when_credentials_are_configured():
    from tasks.stack import read_procfile, selected

    assert "sandbox" not in selected(read_procfile(), sandbox=False)


def test_stack_does_not_read_the_port_variables_of_the_shell(monkeypatch):
    from tasks.stack import read_procfile

    before = read_procfile()
    for var, port in (("WEB_PORT", "8161"), ("FLOWER_PORT", "8162"), ("SANDBOX_PORT", "8163")):
        monkeypatch.setenv(var, port)
    reset_settings()
    try:
        assert read_procfile() == before
    finally:
        monkeypatch.undo()
        reset_settings()


# ----------------------------------------------------------------------------- 6 tasks and queues

def _route(name: str) -> str | None:
    import tasks

    route = tasks.app.amqp.router.route({}, name)
    queue = route.get("queue")
    return getattr(queue, "name", queue)


SYNC_TASKS = [f"sync.{e}.process" for e in WEBHOOK_ENTITIES]
OTHER_TASKS = ["bulk.pull", "heal.requeue_failed", "heal.release_stuck", "heal.enqueue_orphans", "heal.dead_letter",
               "heal.purge_completed", "heal.check_workers", "monitor.snapshot", "reconcile.entity",
               "images.sync_products"]


@pytest.mark.parametrize("name", SYNC_TASKS + OTHER_TASKS)
def test_task_is_registered(name):
    import tasks

    assert name in tasks.app.tasks, f"docs/reference.md#tasks: task {name} not registered in `tasks`"


@pytest.mark.parametrize("entity", list(WEBHOOK_ENTITIES))
def test_sync_task_routed_to_its_entity_queue(entity):
    import tasks

    assert _route(f"sync.{entity}.process") == f"sync.{entity}"
    assert f"sync.{entity}" in {q.name for q in tasks.app.conf.task_queues}, "a worker with no -Q must consume it"


@pytest.mark.parametrize("name", OTHER_TASKS)
def test_other_task_routed_to_a_declared_queue(name):
    import tasks

    assert _route(name) in {q.name for q in tasks.app.conf.task_queues}


@pytest.mark.parametrize("entity", list(WEBHOOK_ENTITIES))
def test_sync_task_takes_event_id_and_retries_at_most_five_times(entity):
    import tasks

    task = tasks.app.tasks[f"sync.{entity}.process"]
    assert list(inspect.signature(task.run).parameters) == ["event_id"]
    assert task.max_retries == 5


def test_max_retries_default_is_five(bare_env):
    assert load_settings().max_retries == 5


@pytest.mark.parametrize("attempt, base", [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16)])
def test_retry_backoff_schedule(attempt, base):
    from tasks.pipeline import backoff_seconds

    for _ in range(20):
        assert base <= backoff_seconds(attempt) <= base + 1.0


@pytest.mark.parametrize("name, params", [
    ("bulk.pull", [("entity", inspect.Parameter.empty), ("full", False)]),
    ("reconcile.entity", [("entity", inspect.Parameter.empty)]),
])
def test_task_signature(name, params):
    import tasks

    sig = inspect.signature(tasks.app.tasks[name].run)
    assert [(p.name, p.default) for p in sig.parameters.values()] == params


def test_heal_thresholds(bare_env):
    s = load_settings()
    assert s.stuck_lock_seconds == 30 * 60  # heal.release_stuck: locks older than 30 min


def _beat():
    import beat_schedule

    return beat_schedule.beat_schedule


def _seconds(schedule) -> float:
    from celery.schedules import crontab

    if isinstance(schedule, crontab):
        return 86400.0 if schedule.hour != set(range(24)) else 3600.0
    return float(getattr(schedule, "total_seconds", lambda: schedule)())


@pytest.mark.parametrize("entity", PULLED_ENTITIES)
def test_beat_incremental_pull_per_entity(entity):
    pulls = [e for e in _beat().values() if e["task"] == "bulk.pull" and e.get("args") == [entity]]
    assert pulls, f"docs/reference.md#tasks: no scheduled bulk.pull for {entity}"
    assert _seconds(pulls[0]["schedule"]) <= 3600


def test_beat_daily_full_pull():
    full = [e for e in _beat().values() if e["task"] in ("bulk.pull", "bulk.pull_all")
            and (e.get("kwargs") or {}).get("full") is True and _seconds(e["schedule"]) == 86400]
    assert full


@pytest.mark.parametrize("name", ["heal.requeue_failed", "heal.release_stuck", "heal.enqueue_orphans",
                                  "heal.dead_letter", "heal.check_workers"])
def test_beat_heals_every_few_minutes(name):
    entries = [e for e in _beat().values() if e["task"] == name]
    assert entries and _seconds(entries[0]["schedule"]) <= 600


def test_beat_purges_completed_daily():
    assert [e for e in _beat().values() if e["task"] == "heal.purge_completed"]


def test_beat_snapshot_every_minute():
    entries = [e for e in _beat().values() if e["task"] == "monitor.snapshot"]
    assert entries and _seconds(entries[0]["schedule"]) == 60


@pytest.mark.parametrize("entity", PULLED_ENTITIES)
def test_beat_nightly_reconciliation(entity):
    entries = [e for e in _beat().values() if e["task"] == "reconcile.entity" and e.get("args") == [entity]]
    assert entries and _seconds(entries[0]["schedule"]) == 86400


def test_every_beat_task_is_registered():
    import tasks

    missing = {e["task"] for e in _beat().values()} - set(tasks.app.tasks)
    assert not missing
    assert tasks.app.conf.beat_schedule == _beat()


# ----------------------------------------------------------------------------- 5 entities and Zoho facts

def test_entity_registry_is_exactly_the_contract_list():
    from zoho.entities import entity_names

    assert sorted(entity_names()) == sorted(WEBHOOK_ENTITIES)


_SOURCE_IDS = list(ZOHO_SOURCES)


@pytest.mark.parametrize("entity", _SOURCE_IDS)
def test_entity_zoho_source(entity):
    """The contract's list is read, as the entity's source or as one of its fallbacks (warehouses:
    `/locations` on current organisations, `/settings/warehouses` or `/warehouses` on older ones)."""
    from zoho.entities import get_entity

    service, paths, list_key, record_key = ZOHO_SOURCES[entity]
    ent = get_entity(entity)
    assert len(ent.sources) == len(paths)
    for src, (path, params) in zip(ent.sources, paths):
        candidates = [(c.service, c.path, dict(c.params)) for c in (src, *src.fallbacks)]
        assert (service, path, params) in candidates
    first = [(c.list_key, c.record_key) for c in (ent.sources[0], *ent.sources[0].fallbacks)]
    assert (list_key, record_key) in first


@pytest.mark.parametrize("entity", list(ENTITY_TABLE))
def test_entity_erp_table(entity):
    from zoho.entities import get_entity

    assert get_entity(entity).model.__tablename__ == ENTITY_TABLE[entity]


@pytest.mark.parametrize("raw, expected", [
    ("2025-11-04T21:52:11+0300", dt.datetime(2025, 11, 4, 18, 52, 11, tzinfo=dt.timezone.utc)),
    ("2025-11-04T21:52:11+03:00", dt.datetime(2025, 11, 4, 18, 52, 11, tzinfo=dt.timezone.utc)),
    ("2015-05-29 00:00:00+00:00", dt.datetime(2015, 5, 29, tzinfo=dt.timezone.utc)),
    ("2025-11-04", dt.datetime(2025, 11, 4, tzinfo=dt.timezone.utc)),
    ("", None),
])
def test_zoho_time_formats_parse(raw, expected):
    from zoho.fields import to_datetime

    assert to_datetime(raw) == expected


@pytest.mark.parametrize("raw, expected", [("2025-11-04", dt.date(2025, 11, 4)), ("", None)])
def test_zoho_date_formats_parse(raw, expected):
    from zoho.fields import to_date

    assert to_date(raw) == expected


@pytest.mark.parametrize("raw, expected", [("", None), ("10", Decimal("10")), ("10%", Decimal("10")),
                                           (6, Decimal("6"))])
def test_zoho_numbers(raw, expected):
    from zoho.fields import to_decimal

    assert to_decimal(raw) == expected


def test_zoho_ids_are_text():
    from zoho.fields import to_zoho_id

    assert to_zoho_id(2646610000000113826) == to_zoho_id("2646610000000113826") == "2646610000000113826"


def test_zoho_client_pages_200_and_authorises_with_oauthtoken():
    from zoho import client

    src = inspect.getsource(client)
    assert client.PER_PAGE == 200 and "has_more_page" in src
    assert "Zoho-oauthtoken " in src and "organization_id" in src and "Retry-After" in src


# ----------------------------------------------------------------------------- 3 webhook receiver

@pytest.fixture(scope="module")
def app_client():
    """For answers that never reach the database (authentication refusals, routing errors)."""
    from webhook_app import create_app

    app = create_app()
    app.testing = True
    return app.test_client()


def _events(db):
    with db.connect() as c:
        return c.execute(text("SELECT id, entity_type, entity_id, operation, status FROM tds_sync_queue "
                              "ORDER BY id")).all()


def _record(entity: str) -> tuple[str, dict]:
    key, id_field = WEBHOOK_ENTITIES[entity]
    return key, {id_field: ZOHO_ID, "last_modified_time": LMT}


@pytest.mark.parametrize("entity", list(WEBHOOK_ENTITIES))
def test_webhook_accepts_each_entity_202(client, db, entity):
    key, record = _record(entity)
    r = signed_post(client, f"/api/zoho/webhooks/{entity}", key, record)
    assert r.status_code == 202, r.get_json()
    assert r.json["status"] == "queued" and isinstance(r.json["event_id"], int)
    assert [(e.id, e.entity_type, e.entity_id, e.operation, e.status) for e in _events(db)] == [
        (r.json["event_id"], entity, ZOHO_ID, "upsert", "pending")]


@pytest.mark.parametrize("entity", list(WEBHOOK_ENTITIES))
def test_webhook_duplicate_is_200(client, entity):
    key, record = _record(entity)
    first = signed_post(client, f"/api/zoho/webhooks/{entity}", key, record)
    again = signed_post(client, f"/api/zoho/webhooks/{entity}", key, record)
    assert again.status_code == 200 and again.json == {"status": "duplicate", "event_id": first.json["event_id"]}


def test_webhook_warehouse_as_location(client):
    r = signed_post(client, "/api/zoho/webhooks/warehouses", "location",
                    {"location_id": ZOHO_ID, "last_modified_time": LMT})
    assert r.status_code == 202


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_webhook_signature_encodings(client, encoding):
    body = body_of("item", item())
    params = {"source": "zoho", "entity": "products"}
    r = client.post("/api/zoho/webhooks/products", query_string=params, data=body, content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body, params, encoding=encoding)})
    assert r.status_code == 202


def test_webhook_form_encoded_jsonstring(client):
    form = {"JSONString": json.dumps({"item": item()})}
    r = client.post("/api/zoho/webhooks/products?entity=products", data=form,
                    headers={"X-Zoho-Webhook-Signature": sign(None, params={"entity": "products"}, form=form)})
    assert r.status_code == 202


@pytest.mark.parametrize("where", ["X-Zoho-Webhook-Token", "X-Webhook-Key", "token"])
def test_webhook_shared_token(client, where):
    body = body_of("item", item())
    url = "/api/zoho/webhooks/products" + (f"?token={TEST_WEBHOOK_SECRET}" if where == "token" else "")
    headers = {} if where == "token" else {where: TEST_WEBHOOK_SECRET}
    assert client.post(url, data=body, content_type="application/json", headers=headers).status_code == 202


@pytest.mark.parametrize("how", ["DELETE", "event=deleted", "X-Zoho-Event"])
def test_webhook_delete_operation(client, db, monkeypatch, how):
    """The signed query `event=deleted`; the unsigned hints only for the token, where the deployment enables them."""
    body = body_of("item", item())
    if how == "event=deleted":
        params = {"event": "deleted", "entity": "products"}
        r = client.post("/api/zoho/webhooks/products", query_string=params, data=body,
                        content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body, params)})
    else:
        monkeypatch.setenv("ZOHO_WEBHOOK_TRUST_UNSIGNED_HINTS", "true")
        reset_settings()
        headers = {"X-Zoho-Webhook-Token": TEST_WEBHOOK_SECRET}
        if how == "X-Zoho-Event":
            headers["X-Zoho-Event"] = "deleted"
        try:
            r = client.open("/api/zoho/webhooks/products", method="DELETE" if how == "DELETE" else "POST", data=body,
                            content_type="application/json", headers=headers)
        finally:
            monkeypatch.undo()
            reset_settings()
    assert r.status_code == 202 and _events(db)[0].operation == "delete"


def _bad(client, case):
    url = "/api/zoho/webhooks/products"
    if case == "401-missing":
        return client.post(url, data=body_of("item", item()), content_type="application/json")
    if case == "401-bad-signature":
        return client.post(url, data=body_of("item", item()), content_type="application/json",
                           headers={"X-Zoho-Webhook-Signature": "0" * 64})
    if case == "401-bad-token":
        return client.post(url, data=body_of("item", item()), content_type="application/json",
                           headers={"X-Zoho-Webhook-Token": "nope"})
    if case == "404-unknown-entity":
        return signed_post(client, "/api/zoho/webhooks/unicorns", "item", item())
    if case == "400-not-json":
        body = b"not json"
        return client.post(url, data=body, content_type="application/json",
                           headers={"X-Zoho-Webhook-Signature": sign(body)})
    if case == "422-invalid-record":
        body = json.dumps({"item": item(lmt="yesterday-ish")}).encode()
        return client.post(url + "?entity=products", data=body, content_type="application/json",
                           headers={"X-Zoho-Webhook-Signature": sign(body, {"entity": "products"})})
    if case == "413-too-large":
        body = body_of("item", item(description="x" * (1024 * 1024)))
        return client.post(url, data=body, content_type="application/json",
                           headers={"X-Zoho-Webhook-Signature": sign(body)})
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["401-missing", "401-bad-signature", "401-bad-token", "404-unknown-entity",
                                  "400-not-json", "422-invalid-record", "413-too-large"])
def test_webhook_refusal(client, db, case):
    r = _bad(client, case)
    assert r.status_code == int(case[:3]) and r.is_json, (r.status_code, r.data[:200])
    if case.startswith("422"):
        assert "last_modified_time" in json.dumps(r.json.get("errors")), "422 lists the marshmallow errors"
    assert _events(db) == []


def test_webhook_refused_401_while_no_secret(client, db, monkeypatch):
    monkeypatch.delenv("ZOHO_WEBHOOK_SECRET")
    reset_settings()
    try:
        assert signed_post(client, "/api/zoho/webhooks/products", "item", item()).status_code == 401
    finally:
        monkeypatch.undo()
        reset_settings()


def test_webhook_503_when_database_unreachable(client, db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/zohosync")
    reset_settings()
    reset_engine()
    try:
        r = signed_post(client, "/api/zoho/webhooks/products", "item", item())
        assert r.status_code == 503 and r.is_json
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert _events(db) == []


def test_healthz_200(client):
    r = client.get("/healthz")
    assert r.status_code == 200


@pytest.mark.parametrize("method, path", [("GET", "/api/zoho/webhooks/products"), ("GET", "/no/such/page")])
def test_errors_answer_json_never_html(app_client, method, path):
    r = app_client.open(path, method=method)
    assert r.status_code in (404, 405) and r.is_json


# ----------------------------------------------------------------------------- 7 monitoring, admin, bulk-sync

GUARDED = [("GET", "/api/zoho/dashboard/health"), ("GET", "/api/zoho/dashboard/stats"),
           ("GET", "/api/zoho/dashboard/queue"), ("GET", "/api/zoho/dashboard/metrics"),
           ("POST", "/api/zoho/admin/queue/retry"), ("POST", "/api/zoho/admin/queue/clear"),
           ("POST", "/api/zoho/bulk-sync/products"), ("POST", "/api/zoho/bulk-sync/sync-all"),
           ("GET", "/api/zoho/bulk-sync/status"), ("GET", "/dashboard")]


@pytest.mark.parametrize("method, path", GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_admin_endpoint_401_without_token(app_client, method, path):
    r = app_client.open(path, method=method, json={})
    assert r.status_code == 401


@pytest.mark.parametrize("method, path", GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_admin_endpoint_401_while_admin_token_unset(app_client, monkeypatch, method, path):
    monkeypatch.delenv("ADMIN_TOKEN")
    reset_settings()
    try:
        assert app_client.open(path, method=method, json={}, headers=ADMIN).status_code == 401
    finally:
        monkeypatch.undo()
        reset_settings()


def test_dashboard_health(client):
    r = client.get("/api/zoho/dashboard/health", headers=ADMIN)
    assert r.status_code == 200
    assert r.json["status"] in ("healthy", "warning", "critical", "emergency")
    assert isinstance(r.json["checks"], dict) and r.json["checks"]


def _seed_many(db, n: int, status: str = "pending", age_minutes: int = 0, entity: str = "products"):
    with db.begin() as c:
        c.execute(text(
            "INSERT INTO tds_sync_queue (entity_type, entity_id, operation, status, payload, payload_hash, dedupe_key, "
            "retry_count, max_retries, created_at, updated_at) SELECT :e, g::text, 'upsert', :s, '{}'::jsonb, 'h', "
            ":s || '-' || g, 0, 5, now() - make_interval(mins => :age), now() - make_interval(mins => :age) "
            "FROM generate_series(1, :n) g"), {"e": entity, "s": status, "n": n, "age": age_minutes})


def _dead_letters(db, n: int):
    with db.begin() as c:
        c.execute(text("INSERT INTO tds_dead_letter_queue (original_id, entity_type, entity_id, operation, payload, "
                       "error_message, failed_at) SELECT g, 'products', g::text, 'upsert', '{}'::jsonb, 'boom', now() "
                       "FROM generate_series(1, :n) g"), {"n": n})


HEALTH_CASES = [  # (id, seed, check name, its verdict, the least overall status)
    ("pending-50-healthy", lambda db: _seed_many(db, 50), "pending", "healthy", "healthy"),
    ("pending-51-warning", lambda db: _seed_many(db, 51), "pending", "warning", "warning"),
    ("pending-201-critical", lambda db: _seed_many(db, 201), "pending", "critical", "critical"),
    ("failed-5-healthy", lambda db: _seed_many(db, 5, "failed"), "failed", "healthy", "healthy"),
    ("failed-6-warning", lambda db: _seed_many(db, 6, "failed"), "failed", "warning", "warning"),
    ("failed-21-critical", lambda db: _seed_many(db, 21, "failed"), "failed", "critical", "critical"),
    ("dlq-10-not-critical", lambda db: _dead_letters(db, 10), "dead_letters", "healthy", "healthy"),
    ("dlq-11-critical", lambda db: _dead_letters(db, 11), "dead_letters", "critical", "critical"),
    ("delay-31min-warning", lambda db: _seed_many(db, 1, age_minutes=31), "sync_delay.products", "warning",
     "warning"),
    ("delay-121min-critical", lambda db: _seed_many(db, 1, age_minutes=121), "sync_delay.products", "critical",
     "critical"),
    ("stopped-7h-emergency", lambda db: _seed_many(db, 1, age_minutes=7 * 60), "sync_stopped", "emergency",
     "emergency"),
]


@pytest.mark.parametrize("seed, check, verdict, least", [c[1:] for c in HEALTH_CASES],
                         ids=[c[0] for c in HEALTH_CASES])
def test_health_thresholds(db, redis_client, seed, check, verdict, least):
    from tasks.health import RANK, health_report

    seed(db)
    report = health_report(workers=False, zoho=False)
    assert report["checks"][check]["verdict"] == verdict, report["checks"][check]
    assert RANK[report["status"]] >= RANK[least]
    if least == "healthy":
        assert report["status"] == "healthy", report


def test_health_emergency_when_database_unreachable(db, redis_client, monkeypatch):
    from tasks.health import health_report

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/zohosync")
    reset_settings()
    reset_engine()
    try:
        report = health_report(workers=False, zoho=False)
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert report["status"] == "emergency"


def test_dashboard_stats(client):
    r = client.get("/api/zoho/dashboard/stats", headers=ADMIN)
    assert r.status_code == 200 and r.is_json


def _seed(db, rows):
    with db.begin() as c:
        for i, (entity, status) in enumerate(rows):
            c.execute(text("INSERT INTO tds_sync_queue (entity_type, entity_id, operation, status, payload, "
                           "payload_hash, dedupe_key, retry_count, max_retries) VALUES (:e, :id, 'upsert', :s, "
                           "'{}'::jsonb, 'h', :k, 0, 5)"), {"e": entity, "id": str(1000 + i), "s": status,
                                                             "k": f"seed-{i}"})


@pytest.mark.parametrize("query, expected", [("", 4), ("?status=failed", 2), ("?entity=customers", 2),
                                             ("?status=failed&entity=products", 1), ("?per_page=1&page=2", 1)])
def test_dashboard_queue_paged_and_filtered(client, db, query, expected):
    _seed(db, [("products", "failed"), ("products", "pending"), ("customers", "failed"), ("customers", "dead")])
    r = client.get(f"/api/zoho/dashboard/queue{query}", headers=ADMIN)
    assert r.status_code == 200
    assert len(r.json["events"]) == expected


@pytest.mark.parametrize("key", ["processing_rate", "failure_rate", "entities", "zoho"])
def test_dashboard_metrics(client, key):
    r = client.get("/api/zoho/dashboard/metrics", headers=ADMIN)
    assert r.status_code == 200 and key in r.json


def test_dashboard_metrics_rate_limit_budget_and_token_expiry(client):
    zoho = client.get("/api/zoho/dashboard/metrics", headers=ADMIN).json["zoho"]
    assert "rate_limit" in zoho and "token" in zoho


def _statuses(db):
    with db.connect() as c:
        return [r[0] for r in c.execute(text("SELECT status FROM tds_sync_queue ORDER BY id"))]


@pytest.mark.parametrize("body, after", [
    ({"ids": [1]}, ["pending", "pending", "failed", "dead"]),
    ({"entity": "customers"}, ["failed", "pending", "pending", "pending"]),
    ({"all": True}, ["pending", "pending", "pending", "pending"]),
], ids=["by-ids", "by-entity", "all"])
def test_admin_queue_retry(client, db, body, after):
    _seed(db, [("products", "failed"), ("products", "pending"), ("customers", "failed"), ("customers", "dead")])
    r = client.post("/api/zoho/admin/queue/retry", json=body, headers=ADMIN)
    assert r.status_code == 200, r.json
    assert _statuses(db) == after


def test_admin_queue_clear(client, db):
    _seed(db, [("products", "completed"), ("products", "completed")])
    with db.begin() as c:
        c.execute(text("UPDATE tds_sync_queue SET completed_at = now() - interval '40 days', "
                       "created_at = now() - interval '40 days' WHERE id = 1"))
        c.execute(text("UPDATE tds_sync_queue SET completed_at = now() WHERE id = 2"))
    r = client.post("/api/zoho/admin/queue/clear", json={"older_than_days": 30}, headers=ADMIN)
    assert r.status_code == 200
    with db.connect() as c:
        assert [x[0] for x in c.execute(text("SELECT id FROM tds_sync_queue"))] == [2]


@pytest.mark.parametrize("path", ["/api/zoho/bulk-sync/products", "/api/zoho/bulk-sync/sync-all"])
def test_bulk_sync_starts(client, path):
    r = client.post(path, json={"full": False}, headers=ADMIN)
    assert r.status_code == 202 and r.json["status"] == "queued"


def test_bulk_sync_unknown_entity_404(client):
    assert client.post("/api/zoho/bulk-sync/unicorns", headers=ADMIN).status_code == 404


def test_bulk_sync_status(client):
    r = client.get("/api/zoho/bulk-sync/status", headers=ADMIN)
    assert r.status_code == 200 and set(WEBHOOK_ENTITIES) <= set(r.json["entities"])


def test_dashboard_page(client):
    r = client.get("/dashboard", headers=ADMIN)
    assert r.status_code == 200 and r.mimetype == "text/html"


# ----------------------------------------------------------------------------- 7 the console command

CLI_COMMANDS = [[], ["health"], ["pull"], ["heal"], ["dlq"], ["dlq", "list"], ["dlq", "retry"], ["dlq", "resolve"],
                ["reconcile"], ["replay"], ["sandbox"], ["stack"]]


@pytest.mark.parametrize("argv", CLI_COMMANDS, ids=["zohosync"] + [" ".join(a) for a in CLI_COMMANDS[1:]])
def test_cli_command_help(argv):
    from tasks.cli import main

    result = CliRunner().invoke(main, [*argv, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.parametrize("argv, needle", [(["pull"], "ENTITY"), (["pull"], "--full"), (["reconcile"], "ENTITY"),
                                          (["replay"], "EVENT_ID"), (["dlq"], "list"), (["dlq"], "retry"),
                                          (["dlq"], "resolve")],
                         ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_cli_arguments(argv, needle):
    from tasks.cli import main

    assert needle in CliRunner().invoke(main, [*argv, "--help"]).output


def test_cli_pull_refuses_an_unknown_entity():
    from tasks.cli import main

    result = CliRunner().invoke(main, ["pull", "unicorns"])
    assert result.exit_code == 2 and "unknown entity" in result.output


def test_cli_dlq_resolve_without_notes(db):
    from tasks.cli import main

    _dead_letters(db, 2)
    result = CliRunner().invoke(main, ["dlq", "resolve", "1"])
    assert result.exit_code == 0, result.output
    with db.connect() as c:
        rows = c.execute(text("SELECT id, resolved_at IS NOT NULL, resolution_notes FROM tds_dead_letter_queue "
                              "ORDER BY id")).all()
    assert [(r[0], r[1]) for r in rows] == [(1, True), (2, False)] and rows[0][2]


def test_dotenv_of_the_checkout_is_read_from_another_directory(bare_env, tmp_path):
    from models import settings

    bare_env.delenv("ZOHOSYNC_ENV_FILE")
    bare_env.chdir(tmp_path)
    assert settings.env_file() == str(ROOT / ".env")
    (tmp_path / ".env").write_text("ZOHO_ORGANIZATION_ID=42\n")
    assert settings.env_file() == ".env" and load_settings().zoho_organization_id == "42"


# ----------------------------------------------------------------------------- the reference's own tables

REFERENCE = ROOT / "docs" / "reference.md"


def _reference_tables(section: str) -> dict[tuple[str, ...], list[list[str]]]:
    """{header cells: rows} of every Markdown table under `## section` of docs/reference.md."""
    text_ = REFERENCE.read_text()
    body = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text_, re.M | re.S).group(1)
    tables: dict[tuple[str, ...], list[list[str]]] = {}
    current = None
    for line in body.splitlines():
        if not line.startswith("|"):
            current = None
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if current is None:
            current = tables.setdefault(tuple(cells), [])
        elif not set("".join(cells)) <= set("-: "):
            current.append(cells)
    return tables


def _code(cell: str) -> str:
    """The first `code span` of a cell."""
    m = re.search(r"`([^`]+)`", cell)
    return m.group(1) if m else cell


def _doc_env() -> dict[str, str]:
    return {_code(r[0]): r[2] for r in _reference_tables("Configuration")[("variable", "meaning", "default")]}


def _code_env() -> set[str]:
    """Every upper-case variable the application's packages read from the environment."""
    names: set[str] = set()
    pattern = re.compile(r"(?:environ\.get|getenv|_int|_str|_float|_bool|environ\[)\(?\s*\"([A-Z][A-Z0-9_]+)\"")
    for package in ("webhook_app", "tasks", "models", "zoho"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(pattern.findall(path.read_text()))
    for path in (ROOT / "celeryconfig.py", ROOT / "beat_schedule.py"):
        names.update(pattern.findall(path.read_text()))
    return names


@pytest.mark.parametrize("var", sorted(_code_env()))
def test_every_variable_the_code_reads_is_documented(var):
    assert var in _doc_env(), f"docs/reference.md#configuration: add a row for {var}"


@pytest.mark.parametrize("var", sorted(_doc_env()))
def test_every_documented_variable_is_read_by_the_code_or_its_processes(var):
    read_by_others = {"FLOWER_BASIC_AUTH"}  # read by Flower itself
    assert var in _code_env() | read_by_others, f"docs/reference.md#configuration: nothing reads {var}"


@pytest.mark.parametrize("var", sorted(set(ENV_SETTINGS)))
def test_documented_default_matches_the_settings(bare_env, var):
    attr, _default, _value, _parsed = ENV_SETTINGS[var]
    doc = _doc_env()[var]
    actual = getattr(load_settings(), attr)
    if actual is None:
        assert doc.startswith("unset"), f"{var}: code has no default, the reference says {doc!r}"
    elif var in ("ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL"):
        assert "ZOHO_DC" in doc
    else:
        assert _code(doc) == str(actual), f"{var}: default {actual!r} in the code, {doc!r} in the reference"


def _doc_endpoints() -> set[tuple[str, str]]:
    rows = _reference_tables("Endpoints")[("method", "path", "auth", "answers")]
    return {(_code(r[0]), _code(r[1])) for r in rows}


def _app_endpoints() -> set[tuple[str, str]]:
    from webhook_app import create_app

    app = create_app()
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in rule.methods - {"HEAD", "OPTIONS"}}


@pytest.mark.parametrize("method, path", sorted(_doc_endpoints()))
def test_documented_endpoint_exists(method, path):
    assert (method, path) in _app_endpoints(), f"docs/reference.md#endpoints: {method} {path} is not served"


def test_every_endpoint_is_documented():
    missing = _app_endpoints() - _doc_endpoints()
    assert not missing, f"docs/reference.md#endpoints: add rows for {sorted(missing)}"


def test_documented_webhook_entities_are_the_registry():
    from zoho.entities import registry

    text_ = REFERENCE.read_text()
    listed = re.search(r"Webhook entities \(`<entity>`\): (.*?)\. Authenticity", text_, re.S).group(1)
    assert set(re.findall(r"`([a-z-]+)`", listed)) == set(registry())


def _doc_tasks() -> dict[str, str]:
    rows = _reference_tables("Tasks")[("task", "queue", "what it does")]
    return {_code(r[0]): _code(r[1]) for r in rows}


def _expand(name: str) -> list[str]:
    from zoho.entities import registry

    return [name.replace("<entity>", e) for e in registry()] if "<entity>" in name else [name]


@pytest.mark.parametrize("name", sorted(_doc_tasks()))
def test_documented_task_is_registered_on_its_queue(name):
    import tasks

    for task in _expand(name):
        assert task in tasks.app.tasks, f"docs/reference.md#tasks: {task} is not registered"
        queue = _doc_tasks()[name].replace("<entity>", task.split(".")[1])
        assert _route(task) == queue, f"{task} goes to {_route(task)}, the reference says {queue}"


def test_every_registered_task_is_documented():
    import tasks

    documented = {t for name in _doc_tasks() for t in _expand(name)}
    # Celery's own tasks and test-only ones (tests/support/, imported by a test in the same process) aside
    ours = {n for n, t in tasks.app.tasks.items()
            if not n.startswith("celery.") and not t.__module__.startswith("tests.")}
    assert not ours - documented, f"docs/reference.md#tasks: add rows for {sorted(ours - documented)}"


def _doc_commands() -> set[str]:
    rows = _reference_tables("Command line")[("command", "what it does")]
    return {" ".join(w for w in _code(r[0]).split()[1:3] if re.fullmatch(r"[a-z-]+", w)) for r in rows}


def _cli_commands() -> set[str]:
    import click

    from tasks.cli import main

    names = set()
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            names.update(f"{name} {sub}" for sub in command.commands)
        else:
            names.add(name)
    return names


@pytest.mark.parametrize("command", sorted(_doc_commands()))
def test_documented_command_exists(command):
    assert command in _cli_commands(), f"docs/reference.md#command-line: `zohosync {command}` does not exist"


def test_every_command_is_documented():
    missing = _cli_commands() - _doc_commands()
    assert not missing, f"docs/reference.md#command-line: add rows for {sorted(missing)}"


def test_documented_tables_are_the_models():
    from models import metadata

    rows = _reference_tables("Tables")[("table", "holds")]
    assert {_code(r[0]) for r in rows} == set(metadata.tables)


def test_documented_processes_are_the_procfile():
    from tasks.stack import read_procfile

    rows = _reference_tables("Processes")[("process", "command", "what it does")]
    procfile = read_procfile()
    assert [_code(r[0]) for r in rows] == list(procfile)
    for row in rows:
        head = _code(row[1]).split("…")[0].strip()
        assert procfile[_code(row[0])].startswith(head), row


@pytest.mark.parametrize("check, constant", [
    ("pending events", "PENDING"), ("failed events", "FAILED"), ("dead letters", "DEAD_LETTERS"),
    ("delay of the oldest waiting event (s)", "DELAY_SECONDS"), ("sync stopped (s)", "STOPPED_SECONDS"),
])
def test_documented_health_threshold_is_the_code(check, constant):
    from tasks import health

    rows = _reference_tables("Health thresholds")[("check", "warning above", "critical above", "emergency")]
    row = next(r for r in rows if r[0] == check)
    documented = {level: int(v) for level, v in zip(("warning", "critical", "emergency"), row[1:], strict=True) if v}
    assert documented == getattr(health, constant)

"""Apply transformer `Record`s with multi-row `INSERT … ON CONFLICT`, newest version winning.

One code path serves a single webhook event and a 200-record page from a bulk pull:
`apply_records` groups rows per table, resolves `Ref`s, upserts with a freshness guard,
and replaces the line set (and applies patches) only for rows that were actually written.

Deadlock-free by construction: every statement that locks several rows takes them in one
global order — table by table in `lock_rank` order (parents before the rows that point at
them), then by key within a table. Rows another table's record will patch (stock and prices
set product columns) are locked up front with the placeholders of their table, so a patch
issued late in the transaction never waits for a lock it did not already hold. A table whose
records come in several column sets (one upsert statement each) has all its keys taken first,
in one pass, so the statements after it never go back to a lower key.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, false, func, not_, or_, select, tuple_, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from models.records import Children, Record, Ref

_NEVER_SET_ON_UPDATE = {"id", "created_at"}


@dataclass
class ApplyResult:
    applied: int = 0
    stale: int = 0
    applied_records: list[Record] = field(default_factory=list)


def _freshness_guard(table, excluded):
    """Newest wins; a tie applies unless it would resurrect a row a delete just deactivated."""
    stored, incoming = table.c.zoho_last_modified_at, excluded.zoho_last_modified_at
    tie_ok = stored == incoming
    if "is_active" in table.c:
        tie_ok = and_(tie_ok, or_(table.c.is_active, not_(excluded.is_active)))
    return or_(stored.is_(None), incoming.is_(None), stored < incoming, tie_ok)


_RANKS: dict[str, int] = {}


def lock_rank(table_name: str) -> int:
    """The table's place in the global lock order: foreign-key parents first, then by name."""
    if not _RANKS:
        from models import metadata  # every table, whichever modules this process has imported

        _RANKS.update({t.name: i for i, t in enumerate(metadata.sorted_tables)})
    return _RANKS.get(table_name, len(_RANKS))


def _sort_key(value: Any) -> tuple:
    """Keys of mixed None/str/int sort without TypeError, in the same order every time."""
    if isinstance(value, tuple):
        return tuple(_sort_key(v) for v in value)
    return (value is None, str(type(value).__name__), value if value is not None else 0)


def resolve_refs(session: Session, records: list[Record]) -> None:
    """Replace every `Ref` in records (and their children) with the parent's integer id.

    Also locks (`FOR NO KEY UPDATE`, by key) the rows the records' patches will update, so
    they are taken here, in their table's turn of the global order, not after other tables.
    """
    wanted: dict[type, set[str]] = defaultdict(set)
    patched: dict[type, set[str]] = defaultdict(set)
    starts: dict[tuple[type, str], dict[str, Any]] = {}

    def collect(values: dict[str, Any]) -> None:
        for v in values.values():
            if isinstance(v, Ref):
                wanted[v.model].add(v.zoho_id)
                if v.placeholder and not starts.get((v.model, v.zoho_id)):
                    starts[(v.model, v.zoho_id)] = {k: x for k, x in v.placeholder if x not in (None, "")}

    for rec in records:
        collect(rec.values)
        for ch in rec.children:
            for row in ch.rows:
                collect(row)
        for p in rec.patches:
            wanted[p.model].add(p.zoho_id)
            patched[p.model].add(p.zoho_id)
    if not wanted:
        return
    ids: dict[tuple[type, str], int] = {}
    for model in sorted(wanted, key=lambda m: lock_rank(m.__tablename__)):
        zoho_ids = wanted[model]
        key_col = getattr(model, model.zoho_key)
        ordered = sorted(zoho_ids)
        # Placeholders carry only the key and a NULL version, so the real record always wins.
        # One round trip: the rows inserted now come back from the INSERT, the existing ones
        # from the SELECT (same statement, so it cannot see the INSERT's own rows).
        extra = sorted({c for z in ordered for c in starts.get((model, z), {})})
        # Rows the records will patch are locked by the placeholder statement itself (`_placeholders`).
        placeholders = _placeholders(
            model, [{model.zoho_key: z, **{c: starts.get((model, z), {}).get(c) for c in extra}} for z in ordered],
            lock=bool(patched.get(model)))
        inserted = placeholders.returning(model.id, key_col).cte(f"placeholders_{model.__tablename__}")
        both = union_all(select(inserted.c.id, inserted.c[model.zoho_key]),
                         select(model.id, key_col).where(key_col.in_(ordered)))
        for row_id, zid in session.execute(both):
            ids[(model, zid)] = row_id
        missing = [z for z in ordered if (model, z) not in ids]
        if missing:  # committed by a concurrent transaction after this statement's snapshot
            for row_id, zid in session.execute(select(model.id, key_col).where(key_col.in_(missing))):
                ids[(model, zid)] = row_id

    def substitute(values: dict[str, Any]) -> None:
        for k, v in list(values.items()):
            if isinstance(v, Ref):
                values[k] = ids[(v.model, v.zoho_id)]

    for rec in records:
        substitute(rec.values)
        for ch in rec.children:
            for row in ch.rows:
                substitute(row)


def _dedupe_newest(records: list[Record]) -> list[Record]:
    """Keep one record per conflict key (the newest): one INSERT may not touch a row twice."""
    best: dict[tuple, Record] = {}
    for rec in records:
        key = rec.conflict_value()
        cur = best.get(key)
        if cur is None:
            best[key] = rec
            continue
        a, b = cur.values.get("zoho_last_modified_at"), rec.values.get("zoho_last_modified_at")
        if a is None or (b is not None and b >= a):
            best[key] = rec
    return list(best.values())


_statements: dict[tuple, Any] = {}


def _upsert_statement(table, conflict: tuple[str, ...], columns: tuple[str, ...]):
    """The cached `INSERT … ON CONFLICT DO UPDATE … WHERE fresher RETURNING id, key` for one row shape.

    Built once per (table, conflict key, column set) and executed with a list of parameter
    sets, so SQLAlchemy compiles it once and batches rows into multi-row VALUES itself.
    """
    cache_key = (table.name, conflict, columns)
    stmt = _statements.get(cache_key)
    if stmt is not None:
        return stmt
    stmt = pg_insert(table)
    excluded = stmt.excluded
    set_: dict[str, Any] = {}
    for col in columns:
        if col in _NEVER_SET_ON_UPDATE or col in conflict:
            continue
        if col == "zoho_last_modified_at":
            set_[col] = func.coalesce(excluded.zoho_last_modified_at, table.c.zoho_last_modified_at)
        else:
            set_[col] = excluded[col]
    if "last_synced_at" in table.c and "last_synced_at" not in columns:
        set_["last_synced_at"] = func.now()
    guard = _freshness_guard(table, excluded) if "zoho_last_modified_at" in table.c else None
    if set_:
        stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=set_, where=guard)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
    stmt = stmt.returning(table.c.id, *[table.c[c] for c in conflict])
    _statements[cache_key] = stmt
    return stmt


def _upsert_group(session: Session, records: list[Record]) -> list[tuple[Record, int]]:
    table = records[0].model.__table__
    conflict = records[0].conflict_columns
    columns = tuple(records[0].values)
    stmt = _upsert_statement(table, conflict, columns)
    records = sorted(records, key=lambda rec: _sort_key(rec.conflict_value()))  # rows locked in key order
    by_key = {rec.conflict_value(): rec for rec in records}
    rows = session.execute(stmt, [rec.values for rec in records]).all()
    applied = [(by_key[tuple(row[1:])], row[0]) for row in rows]
    applied.sort(key=lambda pair: _sort_key(pair[0].conflict_value()))  # children and patches in key order too
    return applied


def _replace_children(session: Session, line_sets: list[tuple[int, Children]]) -> None:
    """Replace the line sets of many parent rows of one child table: one DELETE, one INSERT per column set.

    Each parent's rows absent from its set are deleted, the others upserted on (parent, key).
    A group of documents costs two statements, not two per document. The parents are rows this
    transaction already holds, so no other writer reaches their lines meanwhile.
    """
    first = line_sets[0][1]
    table = first.model.__table__
    fk, key = table.c[first.parent_fk], table.c[first.key]
    by_parent = {parent_id: children for parent_id, children in line_sets}  # a parent's last set wins
    keep = [(parent_id, r[first.key]) for parent_id, children in by_parent.items() for r in children.rows]
    delete = table.delete().where(fk.in_(sorted(by_parent)))
    if keep:
        delete = delete.where(tuple_(fk, key).not_in(keep))
    session.execute(delete)
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for parent_id, children in sorted(by_parent.items()):
        for r in sorted(children.rows, key=lambda r: _sort_key(r.get(first.key))):
            cols = tuple(sorted(set(r) | {first.parent_fk}))
            by_columns[cols].append({c: r.get(c) for c in cols} | {first.parent_fk: parent_id})
    for cols, rows in by_columns.items():
        cache_key = (table.name, "children", cols)
        stmt = _statements.get(cache_key)
        if stmt is None:
            stmt = pg_insert(table)
            set_ = {c: stmt.excluded[c] for c in cols if c not in (first.parent_fk, first.key, "id")}
            # RETURNING makes SQLAlchemy send the rows as one multi-row INSERT ("insertmanyvalues");
            # without it psycopg2's executemany was one round trip per line.
            stmt = _statements[cache_key] = stmt.on_conflict_do_update(
                index_elements=[first.parent_fk, first.key], set_=set_).returning(table.c.id)
        session.execute(stmt, rows)


def _apply_patch(session: Session, patch) -> None:
    model = patch.model
    session.execute(
        update(model)
        .where(getattr(model, model.zoho_key) == bindparam("zid"))
        .values(**patch.values),
        {"zid": patch.zoho_id},
    )


def _placeholders(model: type, rows: list[dict[str, Any]], lock: bool):
    """`INSERT (key, …) … ON CONFLICT`: placeholder rows for keys not stored yet, NULL version so a real record wins.

    With `lock`, existing rows are locked by the same statement, in its one pass in key order: a
    separate `FOR NO KEY UPDATE` pass would go back to lower keys while holding the new placeholders,
    and deadlock with a page of this table upserting in key order (tests/e2e/test_no_deadlocks.py).
    DO UPDATE locks every conflicting row even when its WHERE is false (nothing is written); the
    assigned column is no key, so the lock is FOR NO KEY UPDATE's.
    """
    stmt = pg_insert(model).values(rows)
    if not lock:
        return stmt.on_conflict_do_nothing(index_elements=[model.zoho_key])
    version = model.__table__.c.zoho_last_modified_at
    return stmt.on_conflict_do_update(index_elements=[model.zoho_key], set_={version.name: version}, where=false())


def _lock_keys(session: Session, model: type, keys: set[Any]) -> None:
    """Insert placeholders for and lock every key of `model` the caller will upsert, in one key-ordered pass."""
    session.execute(_placeholders(model, [{model.zoho_key: k} for k in sorted(keys, key=_sort_key)], lock=True))


def apply_records(session: Session, records: list[Record]) -> ApplyResult:
    """Write records in the caller's transaction; returns how many applied and how many were stale."""
    result = ApplyResult()
    if not records:
        return result
    resolve_refs(session, records)
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for rec in records:
        groups[(rec.model, rec.conflict_columns, tuple(sorted(rec.values)))].append(rec)
    # Tables in the global order; within a table, rows by key (see `lock_rank`).
    ordered = sorted(groups.items(), key=lambda kv: (lock_rank(kv[0][0].__tablename__), kv[0][1], kv[0][2]))
    shapes: dict[tuple, int] = defaultdict(int)
    for (model, conflict, _), _group in ordered:
        shapes[(model, conflict)] += 1
    done: list[tuple[Record, int]] = []
    for (model, conflict, _), group in ordered:
        if (shapes.pop((model, conflict), 1) > 1 and conflict == (getattr(model, "zoho_key", None),)
                and "zoho_last_modified_at" in model.__table__.c):
            # Records of one table in several column sets are upserted in one statement per set, each in key
            # order, so together they would revisit lower keys: take every key of the table first, in one pass.
            _lock_keys(session, model, {rec.conflict_value()[0] for rec in records if rec.model is model})
        unique = _dedupe_newest(group)
        applied = _upsert_group(session, unique)
        result.applied += len(applied)
        result.stale += len(group) - len(applied)
        result.applied_records.extend(rec for rec, _ in applied)
        done.extend(applied)
    # Line sets hang off rows this transaction already holds; patches hit rows `resolve_refs`
    # locked up front. Both after every upsert, child tables in the global order too.
    line_sets: dict[tuple[str, str, str], list[tuple[int, Children]]] = defaultdict(list)
    for rec, row_id in done:
        for ch in rec.children:
            line_sets[(ch.model.__tablename__, ch.parent_fk, ch.key)].append((row_id, ch))
    for table_key in sorted(line_sets, key=lambda k: (lock_rank(k[0]), k)):
        _replace_children(session, line_sets[table_key])
    patches = sorted(((p, rec) for rec, _ in done for p in rec.patches),
                     key=lambda pr: (lock_rank(pr[0].model.__tablename__), pr[0].zoho_id))
    for patch, _ in patches:
        _apply_patch(session, patch)
    return result



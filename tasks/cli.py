"""The `zohosync` console command: the operator's levers from a shell."""
from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table

console = Console()


def _print_json(data) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(help="zohosync — keep the ERP database in step with Zoho Books and Inventory.")
def main() -> None:
    # Beside a sandbox-mode stack every command sees the stack's settings: models.settings gives each
    # process of a checkout the same sandbox secrets, organisation and hosts (.run/sandbox-secrets.env).
    from models.logs import configure_logging

    configure_logging(level="WARNING")


@main.command(help="Run the whole stack in the foreground (what `make run` does).")
def stack() -> None:
    from tasks.stack import run_stack

    sys.exit(run_stack())


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
              help="Run the local Zoho sandbox (options: see `zohosync sandbox --help-sandbox`).")
@click.pass_context
def sandbox(ctx) -> None:
    from zoho_sandbox.__main__ import main as sandbox_main

    args = list(ctx.args)
    sys.exit(sandbox_main(["--help" if a == "--help-sandbox" else a for a in args]) or 0)


@main.command(help="Run one event again, whatever its state.")
@click.argument("event_id", type=int)
def replay(event_id: int) -> None:
    from tasks.operations import replay_event

    result = replay_event(event_id, actor="cli")
    if not result["replayed"]:
        console.print(f"[red]event {event_id} not found (or being processed right now)[/red]")
        sys.exit(1)
    console.print(f"[green]event {event_id} is pending again[/green] (published: {result['published']})")


@main.command(help="Run every healing job once, now.")
@click.option("--json", "as_json", is_flag=True)
def heal(as_json: bool) -> None:
    from tasks import heal as h

    jobs = {
        "heal.release_stuck": h.release_stuck,
        "heal.dead_letter": h.dead_letter_exhausted,
        "heal.requeue_failed": h.requeue_failed,
        "heal.enqueue_orphans": h.enqueue_orphans,
        "heal.check_workers": h.check_workers,
        "heal.purge_completed": h.purge_completed,
    }
    results = {name: job.run() for name, job in jobs.items()}
    if as_json:
        _print_json(results)
        return
    table = Table(title="healing")
    table.add_column("job")
    table.add_column("result")
    for name, res in results.items():
        table.add_row(name, ", ".join(f"{k}={v}" for k, v in res.items()))
    console.print(table)


_VERDICT_STYLE = {"healthy": "green", "warning": "yellow", "critical": "red", "emergency": "bold white on red",
                  "unknown": "dim"}


@main.command(help="The health verdict (same as GET /api/zoho/dashboard/health). Exit code 0 healthy, "
                   "1 degraded (warning), 2 unhealthy (critical or emergency), 3 unreachable (database or broker).")
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
def health(as_json: bool) -> None:
    from tasks.health import exit_code_for, health_report, human_seconds

    report = health_report()
    if as_json:
        _print_json(report)
    else:
        status = report["status"]
        table = Table(title=f"zohosync health: [{_VERDICT_STYLE[status]}]{status.upper()}[/]")
        for col, justify in (("check", "left"), ("verdict", "left"), ("value", "right"), ("threshold", "left"),
                             ("details", "left")):
            table.add_column(col, justify=justify)
        idle = [n for n, c in report["checks"].items()
                if n.startswith("sync_delay.") and c["verdict"] == "healthy" and not c["value"]]
        for name, c in report["checks"].items():
            if name in idle:
                continue
            value, unit = c["value"], c.get("unit")
            shown = "-" if value is None else human_seconds(value) if unit == "seconds" else str(value)
            threshold = c["threshold"] or {}
            limits = ", ".join(f"{level} > {human_seconds(v) if unit == 'seconds' else v}"
                               if isinstance(v, (int, float)) else f"{level}: {v}" for level, v in threshold.items())
            style = _VERDICT_STYLE.get(c["verdict"], "")
            table.add_row(name, f"[{style}]{c['verdict']}[/]", shown, limits, c["message"])
        if idle:
            table.add_row("sync_delay.*", "[green]healthy[/]", "0 s", "", "nothing waiting: "
                          + ", ".join(n.removeprefix("sync_delay.") for n in idle))
        console.print(table)
    sys.exit(exit_code_for(report))


@main.group(help="Dead letters: list, retry, resolve.")
def dlq() -> None:
    pass


@dlq.command("list")
@click.option("--all", "show_all", is_flag=True, help="include resolved ones")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def dlq_list(show_all: bool, limit: int, as_json: bool) -> None:
    from sqlalchemy import text

    from models.db import session_scope

    with session_scope() as s:
        rows = s.execute(
            text(
                "SELECT id, original_id, entity_type, entity_id, operation, error_message, failed_at, resolved_at, "
                "resolution_notes FROM tds_dead_letter_queue "
                + ("" if show_all else "WHERE resolved_at IS NULL ")
                + "ORDER BY failed_at DESC LIMIT :n"
            ),
            {"n": limit},
        ).mappings().all()
    if as_json:
        _print_json([dict(r) for r in rows])
        return
    table = Table(title=f"dead letters ({len(rows)})")
    for col in ("id", "event", "entity", "zoho id", "error", "failed at", "resolved"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), str(r["original_id"]), r["entity_type"], r["entity_id"],
                      (r["error_message"] or "")[:80], f"{r['failed_at']:%Y-%m-%d %H:%M:%S}",
                      f"{r['resolved_at']:%Y-%m-%d %H:%M}" if r["resolved_at"] else "")
    console.print(table)


@dlq.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="retry every unresolved dead letter")
def dlq_retry(ids: tuple[int, ...], retry_all: bool) -> None:
    from tasks.operations import retry_dead_letters

    if not ids and not retry_all:
        raise click.UsageError("give dead-letter ids, or --all")
    result = retry_dead_letters(list(ids) or None, actor="cli")
    if ids and not result["retried"]:
        Console(stderr=True).print(f"[red]no unresolved dead letter with id {', '.join(map(str, ids))}[/red]")
        sys.exit(1)
    console.print(f"[green]{result['retried']} event(s) back to pending[/green] (published {result['published']})")


@dlq.command("resolve")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--notes", default="resolved from the zohosync command line", show_default=True,
              help="what was done about it")
def dlq_resolve(ids: tuple[int, ...], notes: str) -> None:
    from tasks.operations import resolve_dead_letters

    result = resolve_dead_letters(list(ids), notes, actor="cli")
    if not result["resolved"]:
        Console(stderr=True).print(f"[red]no unresolved dead letter with id {', '.join(map(str, ids))}[/red]")
        sys.exit(1)
    console.print(f"[green]{result['resolved']} dead letter(s) resolved[/green]")



def _run_table(title: str, data: dict) -> Table:
    table = Table(title=title)
    table.add_column("")
    table.add_column("value", justify="right")
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        table.add_row(key, str(value))
    return table


def _progress_runner(description: str, fn, *, quiet_stdout: bool = False):
    """Run `fn(on_page)` under a progress bar; with `quiet_stdout` (--json) the bar goes to stderr."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("pages {task.completed:.0f} · {task.fields[detail]}"), TimeElapsedColumn(),
                  console=Console(stderr=True) if quiet_stdout else console, transient=False) as progress:
        task = progress.add_task(description, total=None, detail="starting")

        def on_page(stats):
            progress.update(task, completed=stats.pages,
                            detail=f"fetched {stats.fetched} · changed {stats.changed} · skipped {stats.skipped} "
                                   f"· calls {stats.api_calls}")

        return fn(on_page)


@main.command(help="Pull ENTITY from Zoho now (incremental since its cursor; --full re-reads everything).")
@click.argument("entity")
@click.option("--full", is_flag=True, help="read every record and deactivate ERP rows gone from Zoho")
@click.option("--async", "run_async", is_flag=True, help="enqueue bulk.pull instead of running here")
@click.option("--json", "as_json", is_flag=True)
def pull(entity: str, full: bool, run_async: bool, as_json: bool) -> None:
    from tasks.bulk import PullLocked, pull as pull_task, pull_entity, pull_priority
    from zoho.entities import entity_names, get_entity

    if get_entity(entity) is None:
        raise click.BadParameter(f"unknown entity; one of: {', '.join(entity_names())}", param_hint="ENTITY")
    if run_async:
        result = pull_task.apply_async(args=[entity], kwargs={"full": full}, priority=pull_priority(get_entity(entity)))
        if as_json:
            _print_json({"status": "queued", "task_id": result.id, "entity": entity, "full": full})
        else:
            console.print(f"[green]bulk.pull({entity!r}, full={full}) enqueued[/green] — task {result.id}")
        return
    try:
        summary = _progress_runner(f"pull {entity}" + (" (full)" if full else ""),
                                   lambda cb: pull_entity(entity, full=full, progress=cb), quiet_stdout=as_json)
    except PullLocked as e:
        Console(stderr=True).print(f"[yellow]{e}[/yellow]")
        sys.exit(1)
    if as_json:
        _print_json(summary)
    else:
        console.print(_run_table(f"pull {entity}", summary))


@main.command(help="Re-run the current transformer over the records the ERP keeps (raw): no Zoho call. "
                   "Fills columns added by a migration; newest-wins untouched; safe to repeat.")
@click.argument("entity", required=False)
@click.option("--all", "every", is_flag=True, help="every entity")
@click.option("--json", "as_json", is_flag=True)
def reproject(entity: str | None, every: bool, as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tasks.reproject import reproject_entity, reprojectable
    from zoho.entities import get_entity

    if bool(entity) == every:
        raise click.UsageError("give one ENTITY or --all")
    if entity and get_entity(entity) is None:
        raise click.BadParameter(f"unknown entity; one of: {', '.join(reprojectable())}", param_hint="ENTITY")
    names = reprojectable() if every else [entity]
    summaries = []
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(),
                  console=Console(stderr=True) if as_json else console) as bar:
        for name in names:
            task = bar.add_task(f"reproject {name}", total=None, detail="")

            def on_batch(stats, task=task):
                bar.update(task, total=stats.total, completed=stats.done,
                           detail=f"applied {stats.applied} · stale {stats.stale} · failed {stats.failed}")

            summaries.append(reproject_entity(name, progress=on_batch))
    if as_json:
        _print_json(summaries)
        return
    table = Table(title="reproject")
    for column in ("entity", "rows", "applied", "stale", "failed"):
        table.add_column(column, justify="left" if column == "entity" else "right")
    for s in summaries:
        table.add_row(s["entity"], *(str(s[c]) for c in ("rows", "applied", "stale", "failed")))
    console.print(table)
    if any(s["failed"] for s in summaries):
        sys.exit(1)


@main.command(help="Compare Zoho with the ERP for ENTITY (or --all); enqueue what is missing or stale, report differences.")
@click.argument("entity", required=False)
@click.option("--all", "every", is_flag=True, help="every entity with a Zoho list, one after another")
@click.option("--json", "as_json", is_flag=True)
def reconcile(entity: str | None, every: bool, as_json: bool) -> None:
    from tasks.bulk import PullLocked
    from tasks.reconcile import reconcile_entity
    from zoho.entities import entity_names, get_entity

    if every:
        sys.exit(_reconcile_all(as_json))
    if entity is None:
        raise click.UsageError("give an ENTITY, or --all")
    if get_entity(entity) is None:
        raise click.BadParameter(f"unknown entity; one of: {', '.join(entity_names())}", param_hint="ENTITY")
    try:
        report = _progress_runner(f"reconcile {entity}", lambda cb: reconcile_entity(entity, progress=cb),
                                  quiet_stdout=as_json)
    except PullLocked as e:
        Console(stderr=True).print(f"[yellow]{e}[/yellow]")
        sys.exit(1)
    if as_json:
        _print_json(report)
    else:
        colour = "green" if report.get("differences") == 0 else "yellow"
        console.print(_run_table(f"reconcile {entity}", report))
        console.print(f"[{colour}]{report.get('differences', 'unknown')} difference(s)[/{colour}]")


@main.command(help="Download new or changed product images from Zoho now (content-addressed; a second run fetches nothing).")
@click.option("--limit", default=2000, show_default=True, help="at most this many products in this run")
@click.option("--json", "as_json", is_flag=True)
def images(limit: int, as_json: bool) -> None:
    from tasks.images import ImageSyncLocked, sync_product_images

    try:
        summary = sync_product_images(limit=limit)
    except ImageSyncLocked as e:
        Console(stderr=True).print(f"[yellow]{e}[/yellow]")
        sys.exit(1)
    if as_json:
        _print_json(summary)
        return
    console.print(_run_table("product images", summary))
    if summary["failed"] or summary["status"] != "completed":
        console.print(f"[yellow]{summary['failed']} failed (retried on the next run)"
                      + (f"; {summary['error']}" if summary.get("error") else "") + "[/yellow]")


def _reconcile_all(as_json: bool) -> int:
    """`reconcile --all`: every reconcilable entity in turn, then the Zoho-vs-ERP table; 1 if any was skipped."""
    from tasks.bulk import PullLocked
    from tasks.reconcile import latest_results, reconcilable, reconcile_entity

    skipped = []
    for name in reconcilable():
        try:
            _progress_runner(f"reconcile {name}", lambda cb, n=name: reconcile_entity(n, progress=cb),
                             quiet_stdout=as_json)
        except PullLocked:
            skipped.append(name)
    results = latest_results()
    if as_json:
        _print_json({"entities": results, "skipped": skipped})
    else:
        console.print(_compare_table(results))
        if skipped:
            console.print(f"[yellow]skipped (a pull was running): {', '.join(skipped)}[/yellow]")
    return 1 if skipped else 0


def _compare_table(results: list[dict]) -> Table:
    table = Table(title="Zoho vs ERP")
    for col in ("entity", "zoho", "erp", "missing", "stale", "extra", "match %", "last reconciled"):
        table.add_column(col, justify="left" if col in ("entity", "last reconciled") else "right")
    for r in results:
        cells = ["-" if r[k] is None else str(r[k]) for k in ("zoho_count", "erp_count", "missing", "stale", "extra",
                                                               "match_pct")]
        table.add_row(r["entity"], *cells, (r["last_reconciled_at"] or "never")[:19])
    return table


@main.command(help="Zoho vs ERP per entity, as the last reconciliation found it (`reconcile --all` refreshes it).")
@click.option("--json", "as_json", is_flag=True)
def compare(as_json: bool) -> None:
    from tasks.reconcile import latest_results

    results = latest_results()
    if as_json:
        _print_json(results)
    else:
        console.print(_compare_table(results))


@main.command(help="Error patterns: failed and dead events grouped by entity and error, with counts.")
@click.option("--hours", default=24, show_default=True, help="look back this far")
@click.option("--json", "as_json", is_flag=True)
def errors(hours: int, as_json: bool) -> None:
    from tasks.operations import error_patterns

    rows = error_patterns(hours=hours)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"error patterns, last {hours} h")
    for col in ("entity", "count", "dead", "error", "last seen"):
        table.add_column(col, justify="right" if col in ("count", "dead") else "left")
    for r in rows:
        table.add_row(r["entity_type"], str(r["n"]), str(r["dead"]), r["error"][:100], r["last_seen"][:19])
    console.print(table)


@main.command(help="Recent pulls: entity, kind, status, API calls, fetched/changed/failed, duration.")
@click.option("--limit", default=20, show_default=True)
@click.option("--entity", default=None, help="only this entity's runs")
@click.option("--json", "as_json", is_flag=True)
def runs(limit: int, entity: str | None, as_json: bool) -> None:
    from tasks.operations import recent_pulls

    rows = recent_pulls(limit=limit, entity=entity)
    if as_json:
        _print_json(rows)
        return
    table = Table(title="recent pulls")
    for col in ("id", "entity", "kind", "status", "calls", "fetched", "changed", "failed", "duration", "started"):
        table.add_column(col, justify="left" if col in ("entity", "kind", "status", "started") else "right",
                         no_wrap=col in ("entity", "status"))
    for r in rows:
        table.add_row(str(r["id"]), r["entity_type"], r["kind"], r["status"], str(r["api_calls"]), str(r["fetched"]),
                      str(r["changed"]), str(r["failed"]), f"{(r['duration_ms'] or 0) / 1000:.1f} s",
                      r["started_at"][:19])
    console.print(table)


@main.group(help="Alerts: list the open ones, acknowledge one.")
def alerts() -> None:
    pass


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="include cleared alerts")
@click.option("--json", "as_json", is_flag=True)
def alerts_list(show_all: bool, as_json: bool) -> None:
    from tasks.operations import list_alerts

    rows = list_alerts(include_cleared=show_all)
    if as_json:
        _print_json(rows)
        return
    table = Table(title=f"alerts ({len(rows)})")
    for col in ("id", "check", "severity", "message", "raised", "acknowledged"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["check_name"], r["severity"], (r["message"] or "")[:80], r["raised_at"][:19],
                      f"{r['acknowledged_at'][:19]} by {r['acknowledged_by']}" if r["acknowledged_at"] else "")
    console.print(table)


@alerts.command("ack")
@click.argument("alert_id", type=int)
@click.option("--note", default=None, help="what is being done about it (kept in the audit trail)")
def alerts_ack(alert_id: int, note: str | None) -> None:
    from tasks.operations import NotFoundError, acknowledge_alert

    try:
        result = acknowledge_alert(alert_id, actor="cli", note=note)
    except NotFoundError as e:
        Console(stderr=True).print(f"[red]{e}[/red]")
        sys.exit(1)
    console.print(f"[green]alert {result['id']} ({result['check_name']}) acknowledged[/green]")


@main.group(help="Liveness probes for supervisors (systemd, Kubernetes): the exit status is the answer.")
def probe() -> None:
    pass


@probe.command("worker", help="Exit 0 alive and consuming, 1 stuck (alive, nothing consumed for the window while "
                              "its queues hold work), 2 not answering, 3 broker or database unreachable.")
@click.argument("name")
@click.option("--window", default=900, show_default=True, help="seconds without progress that count as stuck")
@click.option("--json", "as_json", is_flag=True)
def probe_worker(name: str, window: int, as_json: bool) -> None:
    from tasks.watchdog import probe as probe_fn
    from tasks.watchdog import probe_exit

    results = probe_fn(name, window=window)
    if as_json:
        _print_json([r.as_dict() for r in results])
    else:
        for r in results:
            click.echo(f"{r.worker}: {r.status} ({r.reason})")
    sys.exit(probe_exit(results))


@main.command(help="Watch every worker and end one that is stuck so its supervisor restarts it (runs until stopped).")
@click.option("--interval", default=60, show_default=True, help="seconds between rounds")
@click.option("--window", default=900, show_default=True, help="seconds without progress that count as stuck")
@click.option("--grace", default=30, show_default=True, help="seconds between SIGTERM and SIGKILL")
@click.option("--once", is_flag=True, help="one round, print what was found and done, then exit")
@click.option("--dry-run", is_flag=True, help="report, end nothing")
def watchdog(interval: int, window: int, grace: int, once: bool, dry_run: bool) -> None:
    import logging

    from tasks.watchdog import watch, watch_once

    if once or dry_run:
        _print_json(watch_once(window=window, grace=grace, dry_run=dry_run))
        return
    logging.getLogger("tasks.watchdog").setLevel(logging.INFO)
    watch(interval=interval, window=window, grace=grace)


if __name__ == "__main__":
    main()

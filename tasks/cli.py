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
    console.print(f"[green]{result['retried']} event(s) back to pending[/green] (published {result['published']})")


@dlq.command("resolve")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--notes", default="resolved from the zohosync command line", show_default=True,
              help="what was done about it")
def dlq_resolve(ids: tuple[int, ...], notes: str) -> None:
    from tasks.operations import resolve_dead_letters

    result = resolve_dead_letters(list(ids), notes, actor="cli")
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
    from tasks.bulk import PullLocked, pull as pull_task, pull_entity
    from zoho.entities import entity_names, get_entity

    if get_entity(entity) is None:
        raise click.BadParameter(f"unknown entity; one of: {', '.join(entity_names())}", param_hint="ENTITY")
    if run_async:
        result = pull_task.apply_async(args=[entity], kwargs={"full": full})
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


@main.command(help="Compare Zoho with the ERP for ENTITY; enqueue what is missing or stale, report differences.")
@click.argument("entity")
@click.option("--json", "as_json", is_flag=True)
def reconcile(entity: str, as_json: bool) -> None:
    from tasks.bulk import PullLocked
    from tasks.reconcile import reconcile_entity
    from zoho.entities import entity_names, get_entity

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
        colour = "green" if report["differences"] == 0 else "yellow"
        console.print(_run_table(f"reconcile {entity}", report))
        console.print(f"[{colour}]{report['differences']} difference(s)[/{colour}]")


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


if __name__ == "__main__":
    main()

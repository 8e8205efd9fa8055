"""`python -m bench` (`make bench`): every figure beside a floor measured in the same run, as a table.

Runs against its own database (`zohosync_bench`, migrated from scratch) and Redis db 13,
with its own gunicorn, Celery and sandbox processes on free ports, so it can run next to
`make run` or `make test`. See bench/README.md for what each figure means.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
import traceback
from pathlib import Path

from bench.common import configure_env

NAMES = ("ingest", "worker", "e2e", "burst", "pull", "dashboard", "slowclients")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small volumes: a smoke run of a few minutes")
    p.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(NAMES)}")
    p.add_argument("--json", type=Path, help="also write every figure (with raw numbers) to this file")
    p.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    p.add_argument("--full-pull-real-limit", action="store_true",
                   help="run the full pull at the real 100 calls/min (about 20 minutes) instead of projecting it")
    p.add_argument("--e2e-rate", type=int, metavar="N",
                   help="webhooks per second offered in the e2e figure (default 200); for a machine where "
                        "neither side keeps up at 200/s, the latency at a rate both can carry")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="run the receiver and the worker under py-spy, raw stacks into DIR (figures then skewed; "
                        "wall-clock samples, or on-CPU only with ZOHOSYNC_BENCH_PROFILE_IDLE=0)")
    args = p.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(NAMES)
    unknown = [n for n in chosen if n not in NAMES]
    if unknown:
        p.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    args.names = chosen
    return args


def _one_run_at_a_time():
    """Two runs would empty each other's tables mid-figure: the second waits for the first."""
    import fcntl
    import tempfile

    handle = open(Path(tempfile.gettempdir()) / "zohosync-bench.lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("bench: another bench run is in progress; waiting for it to finish", flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_env()
    from bench.common import ensure_database
    from bench.figures import ALL, Config
    from bench.table import Figure, markdown, plain

    options = {"full_pull_real_limit": args.full_pull_real_limit, "profile_dir": args.profile}
    if args.e2e_rate:
        options["e2e_rate"] = args.e2e_rate
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    cfg = Config.quick(**options) if args.quick else Config(**options)
    lock = _one_run_at_a_time()
    print(f"bench: {'quick' if args.quick else 'full'} run of {', '.join(args.names)}; migrating the bench database",
          flush=True)
    ensure_database()
    figures: list[Figure] = []
    failures = 0
    started = time.monotonic()
    for name in args.names:
        t0 = time.monotonic()
        print(f"bench: {name} …", flush=True)
        try:
            rows = ALL[name](cfg)
        except Exception as e:  # one broken figure must not hide the others
            failures += 1
            traceback.print_exc()
            rows = [Figure(name, "error", "—", None, "—", False, {"error": f"{type(e).__name__}: {e}"[:2000]})]
        figures.extend(rows)
        print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", flush=True)
        for row in rows:
            print(f"  {row.name}: ours {row.ours}, floor {row.floor}", flush=True)
    try:
        from bench.common import reset_state

        reset_state()
    except Exception:  # noqa: BLE001 - leaving data behind in the bench db is harmless
        pass
    print()
    print(plain(figures))
    print(f"\n{len(figures)} figures in {time.monotonic() - started:.0f} s; "
          f"{sum(1 for f in figures if f.passed is False)} below target")
    meta = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "quick": args.quick,
            "host": platform.node(), "python": platform.python_version(), "config": repr(cfg)}
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "figures": [f.as_dict() for f in figures]}, indent=2,
                                        default=str))
    if args.markdown:
        args.markdown.write_text(markdown(figures) + "\n")
    lock.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

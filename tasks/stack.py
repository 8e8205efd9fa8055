"""`zohosync stack` (what `make run` runs): the Procfile's processes under supervisord, in the foreground.

The `Procfile` is the one description of the stack's processes; this module only prepares
their environment and hands them to supervisord (a well-kept process supervisor: it
restarts a process that dies, backs off one that keeps failing to start, and stops each
process's whole group on Ctrl-C). `supervisorctl -c .run/supervisord.conf status` shows
them while the stack runs.
"""
from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from dotenv import dotenv_values

from models.settings import get_settings, reset_settings

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
PROCFILE = ROOT / "Procfile"
SANDBOX_ONLY = {"sandbox"}


def read_procfile(path: Path = PROCFILE) -> dict[str, str]:
    """`name: command` per line, in order; blank lines and `#` comments skipped."""
    procs: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            procs[name.strip()] = command.strip()
    return procs


def selected(procs: dict[str, str], sandbox: bool) -> dict[str, str]:
    """The processes to run: the sandbox (a stand-in for Zoho) only while no Zoho credentials are set."""
    return {name: cmd for name, cmd in procs.items() if sandbox or name not in SANDBOX_ONLY}


def build_env() -> tuple[dict[str, str], bool]:
    """The children's environment; in sandbox mode the insecure dev values of `dev.env` fill gaps."""
    env = dict(os.environ)
    sandbox = get_settings().sandbox_mode
    if sandbox:
        for key, value in dotenv_values(ROOT / "dev.env").items():
            if value is not None and not env.get(key):
                env[key] = value
        os.environ.update({k: v for k, v in env.items() if k not in os.environ})
        reset_settings()
        s = get_settings()
        # The sandbox fires live, signed webhooks at this stack's receiver (options: zoho_sandbox/__main__.py).
        env.setdefault("SANDBOX_LIVE", "1")
        env.setdefault("SANDBOX_PORT", str(s.sandbox_port))
        env.setdefault("SANDBOX_WEBHOOK_URL", f"http://127.0.0.1:{s.web_port}")
        env.setdefault("SANDBOX_WEBHOOK_SECRET", env.get("ZOHO_WEBHOOK_SECRET", ""))
        env.setdefault("SANDBOX_DROP_RATE", "0.1")
    if not env.get("FLOWER_BASIC_AUTH"):
        env.pop("FLOWER_BASIC_AUTH", None)  # Flower reads it itself; an empty value would lock everyone out
    env.setdefault("FLOWER_PERSISTENT", "True")  # Flower reads FLOWER_<OPTION> from its environment
    env.setdefault("FLOWER_DB", str(RUN_DIR / "flower.db"))
    env.setdefault("ZOHOSYNC_LOG_FORMAT", "text")
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the venv's commands first
    # The checkout first on the path: zoho_sandbox is a development package, not installed with the project.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env, sandbox


def supervisord_conf(procs: dict[str, str], run_dir: Path = RUN_DIR, cwd: Path = ROOT, startsecs: int = 5) -> str:
    """supervisord's configuration for `procs`: output to the terminal, restart on exit, stop by group."""
    esc = lambda s: str(s).replace("%", "%%")  # noqa: E731 - supervisord expands %(...)s in every value
    password = secrets.token_hex(16)  # supervisorctl reads it from this (0600) file too
    lines = ["[supervisord]", "nodaemon=true", f"logfile={esc(run_dir / 'supervisord.log')}",
             f"pidfile={esc(run_dir / 'supervisord.pid')}", f"directory={esc(cwd)}",
             *(["user=root"] if os.geteuid() == 0 else []), "",
             "[unix_http_server]", f"file={esc(run_dir / 'supervisor.sock')}", "chmod=0700",
             "username=zohosync", f"password={password}", "",
             "[rpcinterface:supervisor]",
             "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
             "[supervisorctl]", f"serverurl=unix://{esc(run_dir / 'supervisor.sock')}", "username=zohosync",
             f"password={password}", ""]
    for name, command in procs.items():
        lines += [f"[program:{name}]", f"command={esc(command)}", f"directory={esc(cwd)}",
                  "autorestart=true", f"startsecs={startsecs}", "startretries=5",
                  "stopasgroup=true", "killasgroup=true", "stopwaitsecs=30",
                  "redirect_stderr=true", "stdout_logfile=/dev/stdout", "stdout_logfile_maxbytes=0", ""]
    return "\n".join(lines)


def _enqueue_first_pull() -> None:
    """An incremental pull of every entity now, not at beat's first interval: the ERP fills at start.

    Cheap when nothing changed (one call per list); the pull lock keeps it from doubling a
    running one; a broker that is not answering only costs the wait for beat.
    """
    from tasks import app

    try:
        app.send_task("bulk.pull_all", kwargs={"full": False})
        print("first incremental pull of every entity enqueued (bulk.pull_all)", flush=True)
    except Exception as e:  # noqa: BLE001 - the stack must come up even so
        print(f"could not enqueue the first pull ({type(e).__name__}); beat will pull on schedule", flush=True)


def run_stack(procfile: Path = PROCFILE, run_dir: Path = RUN_DIR, first_pull: bool = True,
              startsecs: int = 5) -> int:
    """Run the Procfile under supervisord until Ctrl-C / SIGTERM; supervisord's exit status."""
    env, sandbox = build_env()
    procs = selected(read_procfile(procfile), sandbox)
    run_dir.mkdir(parents=True, exist_ok=True)
    (ROOT / "var").mkdir(exist_ok=True)  # beat keeps its schedule there (see the Procfile)
    conf = run_dir / "supervisord.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(supervisord_conf(procs, run_dir, startsecs=startsecs))
    # Through a pipe, copied to our stdout: the programs write to supervisord's /dev/stdout, which a
    # regular file (`make run > log`) would reopen at offset 0 for each of them, overwriting the others.
    supervisord = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Ctrl-C reaches supervisord too (same process group); SIGTERM to us is passed on to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: supervisord.send_signal(signal.SIGTERM))
    if first_pull:
        _enqueue_first_pull()
    s = get_settings()
    print(f"zohosync: {', '.join(procs)} under supervisord — receiver http://127.0.0.1:{s.web_port}"
          f"/api/zoho/webhooks/<entity>, dashboard http://127.0.0.1:{s.web_port}/dashboard, Flower "
          f"http://127.0.0.1:{s.flower_port}" + (f", Zoho sandbox http://127.0.0.1:{s.sandbox_port}" if sandbox else "")
          + f". Status: supervisorctl -c {shlex.quote(str(conf))} status. Ctrl-C stops it all.", flush=True)
    assert supervisord.stdout is not None
    for line in iter(supervisord.stdout.readline, b""):
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
    code = supervisord.wait()
    print("zohosync stopped.", flush=True)
    return code

#!/usr/bin/env python3
"""Make sure the PostgreSQL and Redis zohosync is configured for answer, starting local ones if not.

Standard library only: it runs before the virtualenv exists. It speaks just enough of the
PostgreSQL wire protocol (startup, trust / password / MD5 / SCRAM-SHA-256 authentication,
simple queries, optional TLS) and of RESP to check both servers and create databases.

    python3 scripts/ensure_services.py [--database NAME ...]      # what `make run` / `make test` call
    python3 scripts/ensure_services.py --no-start                  # only check, never start anything
    python3 scripts/ensure_services.py --stop                      # stop what this script started in .run/
    python3 scripts/ensure_services.py --private DIR --pg-port P --redis-port R   # throwaway pair, prints URLs
    python3 scripts/ensure_services.py --stop-private DIR

`DATABASE_URL` and `CELERY_BROKER_URL` come from the environment, else from `.env` in the
repository root (or `$ZOHOSYNC_ENV_FILE`), else the defaults of CONTRACT §2.

When a service does not answer and its host is local, this script starts one: an existing
Debian cluster (`/etc/postgresql/<ver>/main`) listening on that port, else a private cluster
under `.run/postgres`; Redis under `.run/redis`, without persistence. Missing server binaries
are installed with apt-get when running as root; otherwise the message says what to install.
A remote service is never started, only reported.

The private-service functions (`start_private_postgres`, `restart_private_redis`, ...) are
what the fault tests use to kill and restart servers of their own: they only ever act on the
data directory / pid file under the directory they are given, never on the machine's services.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import glob
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
INSTALL_HINT = "sudo apt-get install postgresql redis-server"
LOCAL_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}
START_TIMEOUT = 30.0


class ServiceError(Exception):
    """Something the user has to fix; the message says what."""


# --------------------------------------------------------------------------- configuration


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; `export ` prefixes, comments and surrounding quotes are allowed."""
    values: dict[str, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return values
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        values[key] = value
    return values


def default_env_file() -> Path:
    return Path(os.environ.get("ZOHOSYNC_ENV_FILE") or ROOT / ".env")


def load_urls(env_file: Path | None = None, environ: dict[str, str] | None = None) -> tuple[str, str]:
    """(DATABASE_URL, CELERY_BROKER_URL): the environment wins over the file, the file over defaults."""
    environ = os.environ if environ is None else environ
    file_values = read_env_file(env_file if env_file is not None else default_env_file())

    def pick(name: str, default: str) -> str:
        for source in (environ, file_values):
            value = (source.get(name) or "").strip()
            if value:
                return value
        return default

    return pick("DATABASE_URL", DEFAULT_DATABASE_URL), pick("CELERY_BROKER_URL", DEFAULT_BROKER_URL)


def _is_local(host: str) -> bool:
    return host.startswith("/") or host in LOCAL_NAMES or host.startswith("127.")


def _hostport(host: str, port: int) -> str:
    if host.startswith("/"):
        return f"{host}/.s.PGSQL.{port}" if port else host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    user: str
    password: str | None = field(default=None, repr=False)
    database: str = "postgres"
    sslmode: str = "prefer"
    sslrootcert: str | None = None

    @property
    def local(self) -> bool:
        return _is_local(self.host)

    @property
    def address(self) -> str:
        return _hostport(self.host, self.port)

    def on(self, database: str) -> PgTarget:
        return PgTarget(self.host, self.port, self.user, self.password, database, self.sslmode, self.sslrootcert)


@dataclass(frozen=True)
class RedisTarget:
    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    verify: bool = True
    socket_path: str | None = None

    @property
    def local(self) -> bool:
        return bool(self.socket_path) or _is_local(self.host)

    @property
    def address(self) -> str:
        return self.socket_path or _hostport(self.host, self.port)


def parse_database_url(url: str) -> PgTarget:
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise ServiceError("DATABASE_URL must be a PostgreSQL URL (postgresql+psycopg2://…), "
                           f"got scheme {parts.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        port = parts.port or int(query.get("port") or 5432)
    except ValueError as e:
        raise ServiceError(f"DATABASE_URL has an invalid port: {e}") from None
    host = parts.hostname or query.get("host") or "/var/run/postgresql"
    user = unquote(parts.username) if parts.username else (query.get("user") or os.environ.get("PGUSER") or _os_user())
    password = unquote(parts.password) if parts.password is not None else (
        query.get("password") or os.environ.get("PGPASSWORD") or None)
    database = unquote(parts.path.lstrip("/")) or query.get("dbname") or user
    sslmode = query.get("sslmode") or os.environ.get("PGSSLMODE") or ("disable" if host.startswith("/") else "prefer")
    return PgTarget(host, port, user, password, database, sslmode, query.get("sslrootcert"))


def parse_broker_url(url: str) -> RedisTarget:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    password = unquote(parts.password) if parts.password else (query.get("password") or None)
    username = unquote(parts.username) if parts.username else None
    if scheme in ("unix", "redis+socket", "socket"):
        return RedisTarget("localhost", 0, int(query.get("db") or 0), username, password, socket_path=parts.path)
    if scheme not in ("redis", "rediss"):
        raise ServiceError(f"CELERY_BROKER_URL must be a Redis URL (redis://host:6379/0), got scheme {scheme!r}")
    try:
        port = parts.port or 6379
        db = int(query.get("db") or parts.path.strip("/") or 0)
    except ValueError as e:
        raise ServiceError(f"CELERY_BROKER_URL has an invalid port or database number: {e}") from None
    verify = (query.get("ssl_cert_reqs") or "required").lower() not in ("none", "cert_none", "optional")
    return RedisTarget(parts.hostname or "localhost", port, db, username, password, scheme == "rediss", verify)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return "postgres"


# --------------------------------------------------------------------------- PostgreSQL wire protocol


class PgError(Exception):
    """The server answered with an error (or an authentication we cannot complete)."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class PgUnreachable(Exception):
    """Nothing accepted the connection (refused, timed out, no route, unknown host)."""


class PgForeign(Exception):
    """Something accepted the connection but did not speak PostgreSQL."""


class PgAuthUnsupported(PgError):
    """An authentication method this small client does not implement (GSS, SSPI, certificate-only)."""


AUTH_ERRORS = {"28000", "28P01"}
# Backend message types a client can receive (protocol 3).
_PG_MESSAGE_TYPES = {bytes([c]) for c in b"123ACDEGHIKNRSTVWZcdnstv"}


def _net_connect(host: str, port: int, timeout: float, unix_path: str | None = None) -> socket.socket:
    try:
        if unix_path:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(unix_path)
            return sock
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.settimeout(timeout)
        return sock
    except TimeoutError:
        raise PgUnreachable(f"no answer within {timeout:g} s") from None
    except ConnectionRefusedError:
        raise PgUnreachable("connection refused") from None
    except FileNotFoundError:
        raise PgUnreachable("no socket file") from None
    except socket.gaierror as e:
        raise PgUnreachable(f"unknown host ({e.strerror})") from None
    except OSError as e:
        raise PgUnreachable(e.strerror or str(e)) from None


class PgConnection:
    """A minimal protocol-3 client: enough to authenticate, run simple queries and hang up."""

    def __init__(self, target: PgTarget, timeout: float = 3.0):
        self.target = target
        unix_path = f"{target.host}/.s.PGSQL.{target.port}" if target.host.startswith("/") else None
        self.sock = _net_connect(target.host, target.port, timeout, unix_path)
        try:
            if target.sslmode != "disable" and not unix_path:
                self._negotiate_tls()
            self._startup()
        except BaseException:
            self.close()
            raise

    # -- framing
    def _recv_exact(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            try:
                chunk = self.sock.recv(n - got)
            except TimeoutError:
                raise PgForeign("connected, but no PostgreSQL answer came") from None
            except OSError as e:
                raise PgForeign(f"connection dropped ({e.strerror or e})") from None
            if not chunk:
                raise PgForeign("connection closed without a PostgreSQL answer")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _read(self) -> tuple[bytes, bytes]:
        kind = self._recv_exact(1)
        if kind not in _PG_MESSAGE_TYPES:
            raise PgForeign(f"unexpected reply {kind!r}: not PostgreSQL")
        (length,) = struct.unpack("!I", self._recv_exact(4))
        if not 4 <= length <= 64 * 1024 * 1024:
            raise PgForeign("implausible message length: not PostgreSQL")
        return kind, self._recv_exact(length - 4)

    def _send(self, kind: bytes, payload: bytes) -> None:
        self.sock.sendall(kind + struct.pack("!I", len(payload) + 4) + payload)

    @staticmethod
    def _error(body: bytes) -> PgError:
        fields: dict[str, str] = {}
        for item in body.split(b"\0"):
            if item:
                fields[chr(item[0])] = item[1:].decode("utf-8", "replace")
        return PgError(fields.get("M", "unknown error"), fields.get("C", ""))

    # -- connection set-up
    def _negotiate_tls(self) -> None:
        self.sock.sendall(struct.pack("!II", 8, 80877103))
        answer = self._recv_exact(1)
        if answer == b"N":
            if self.target.sslmode in ("require", "verify-ca", "verify-full"):
                raise PgError(f"the server does not offer TLS but sslmode={self.target.sslmode}")
            return
        if answer != b"S":
            raise PgForeign("the TLS request got an unexpected answer: not PostgreSQL")
        if self.target.sslmode in ("verify-ca", "verify-full"):
            ctx = ssl.create_default_context(cafile=self.target.sslrootcert)
            ctx.check_hostname = self.target.sslmode == "verify-full"
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        try:
            self.sock = ctx.wrap_socket(self.sock, server_hostname=self.target.host)
        except (ssl.SSLError, OSError) as e:
            raise PgError(f"TLS handshake failed: {e}") from None

    def _startup(self) -> None:
        t = self.target
        params = {"user": t.user, "database": t.database, "application_name": "zohosync-ensure-services",
                  "client_encoding": "UTF8"}
        payload = struct.pack("!I", 196608) + b"".join(
            k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
        self.sock.sendall(struct.pack("!I", len(payload) + 4) + payload)
        while True:
            kind, body = self._read()
            if kind == b"R":
                self._authenticate(body)
            elif kind == b"E":
                raise self._error(body)
            elif kind == b"Z":
                return
            elif kind not in b"SKNv":
                raise PgForeign(f"unexpected message {kind!r} during start-up")

    def _need_password(self) -> bytes:
        if self.target.password is None:
            raise PgError(f"the server asks for a password for user {self.target.user!r} and none is configured",
                          "28P01")
        return self.target.password.encode("utf-8")

    def _authenticate(self, body: bytes) -> None:
        (code,) = struct.unpack("!I", body[:4])
        if code == 0:
            return
        if code == 3:
            self._send(b"p", self._need_password() + b"\0")
        elif code == 5:
            inner = hashlib.md5(self._need_password() + self.target.user.encode()).hexdigest().encode()
            self._send(b"p", b"md5" + hashlib.md5(inner + body[4:8]).hexdigest().encode() + b"\0")
        elif code == 10:
            mechanisms = [m.decode() for m in body[4:].split(b"\0") if m]
            if "SCRAM-SHA-256" not in mechanisms:
                raise PgAuthUnsupported(f"unsupported SASL mechanisms {mechanisms}")
            self._scram(self._need_password())
        else:
            raise PgAuthUnsupported(f"unsupported authentication request {code}")

    def _scram(self, password: bytes) -> None:
        nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        self._send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!I", len(first)) + first)
        kind, body = self._read()
        if kind == b"E":
            raise self._error(body)
        if kind != b"R" or struct.unpack("!I", body[:4])[0] != 11:
            raise PgForeign("unexpected SCRAM exchange")
        server_first = body[4:].decode()
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        if not attrs.get("r", "").startswith(nonce):
            raise PgError("SCRAM: the server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        stored_key = hashlib.sha256(client_key).digest()
        final_bare = f"c=biws,r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{final_bare}".encode()
        signature = hmac.new(stored_key, auth_message, "sha256").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self._send(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
        kind, body = self._read()
        if kind == b"E":
            raise self._error(body)
        if kind != b"R" or struct.unpack("!I", body[:4])[0] != 12:
            raise PgForeign("unexpected SCRAM final message")
        server_key = hmac.new(salted, b"Server Key", "sha256").digest()
        expected = base64.b64encode(hmac.new(server_key, auth_message, "sha256").digest()).decode()
        if not hmac.compare_digest(body[4:].decode().partition("v=")[2], expected):
            raise PgError("SCRAM: the server's signature does not verify")

    # -- use
    def query(self, sql: str) -> list[tuple[str | None, ...]]:
        self._send(b"Q", sql.encode("utf-8") + b"\0")
        rows: list[tuple[str | None, ...]] = []
        error: PgError | None = None
        while True:
            kind, body = self._read()
            if kind == b"D":
                (count,) = struct.unpack("!H", body[:2])
                pos, row = 2, []
                for _ in range(count):
                    (length,) = struct.unpack("!i", body[pos:pos + 4])
                    pos += 4
                    if length < 0:
                        row.append(None)
                    else:
                        row.append(body[pos:pos + length].decode("utf-8", "replace"))
                        pos += length
                rows.append(tuple(row))
            elif kind == b"E":
                error = self._error(body)
            elif kind == b"Z":
                if error:
                    raise error
                return rows

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._send(b"X", b"")
        with contextlib.suppress(Exception):
            self.sock.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Probe:
    state: str  # ok | missing | starting | down | foreign | auth | unsupported | error
    detail: str = ""

    @property
    def answered(self) -> bool:
        return self.state not in ("down", "starting")


def pg_probe(target: PgTarget, timeout: float = 3.0) -> Probe:
    """Connect to `target.database` and classify what happened."""
    try:
        with PgConnection(target, timeout) as conn:
            conn.query("SELECT 1")
        return Probe("ok")
    except PgUnreachable as e:
        return Probe("down", str(e))
    except PgForeign as e:
        return Probe("foreign", str(e))
    except PgAuthUnsupported as e:
        return Probe("unsupported", str(e))
    except PgError as e:
        if e.code == "3D000":
            return Probe("missing", str(e))
        if e.code == "57P03":
            return Probe("starting", str(e))
        if e.code in AUTH_ERRORS:
            return Probe("auth", str(e))
        return Probe("error", f"{e} ({e.code})" if e.code else str(e))


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def create_database(target: PgTarget, name: str, timeout: float = 10.0) -> bool:
    """CREATE DATABASE `name` on the server of `target`; False when it already existed."""
    last: Exception | None = None
    for maintenance in ("postgres", "template1"):
        try:
            with PgConnection(target.on(maintenance), timeout) as conn:
                if conn.query(f"SELECT 1 FROM pg_database WHERE datname = {quote_literal(name)}"):
                    return False
                try:
                    conn.query(f"CREATE DATABASE {quote_ident(name)}")
                except PgError as e:
                    if e.code in ("42P04", "23505"):  # created concurrently by another run
                        return False
                    if e.code == "42501":
                        raise ServiceError(f"user {target.user!r} may not create database {name!r} on "
                                           f"{target.address}: create it (createdb {name}) or grant CREATEDB") from None
                    raise
                return True
        except PgError as e:
            if e.code != "3D000":
                raise
            last = e
    raise ServiceError(f"cannot reach a maintenance database on {target.address} to create {name!r}: {last}")


def _psycopg2_ensure(target: PgTarget, names: list[str]) -> list[str]:
    """For authentication methods the wire client lacks: let libpq (psycopg2) do the work."""
    try:
        import psycopg2  # type: ignore[import-not-found]
    except ImportError:
        raise ServiceError(f"PostgreSQL at {target.address} uses an authentication method this script cannot "
                           "perform without psycopg2; run it with the project's virtualenv (.venv/bin/python)"
                           ) from None
    kwargs = {"host": target.host, "port": target.port, "user": target.user, "dbname": "postgres",
              "sslmode": target.sslmode, "connect_timeout": 10}
    if target.password is not None:
        kwargs["password"] = target.password
    conn = psycopg2.connect(**kwargs)
    conn.autocommit = True
    created = []
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {quote_ident(name)}")
                    created.append(name)
    finally:
        conn.close()
    return created


# --------------------------------------------------------------------------- Redis protocol


class RedisReplyError(Exception):
    pass


class RedisConnection:
    def __init__(self, target: RedisTarget, timeout: float = 3.0):
        self.target = target
        self.sock = _net_connect(target.host, target.port, timeout, target.socket_path)
        if target.tls:
            ctx = ssl.create_default_context()
            if not target.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            try:
                self.sock = ctx.wrap_socket(self.sock, server_hostname=target.host)
            except (ssl.SSLError, OSError) as e:
                self.sock.close()
                raise PgForeign(f"TLS handshake failed: {e}") from None
        self.buf = b""

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise PgForeign("connected, but no Redis answer came") from None
        except OSError as e:
            raise PgForeign(f"connection dropped ({e.strerror or e})") from None
        if not chunk:
            raise PgForeign("connection closed without a Redis answer")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise PgForeign("not Redis")
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisReplyError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise PgForeign("unexpected reply: not Redis")

    def command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            data = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.sock.close()

    def __enter__(self) -> RedisConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def redis_probe(target: RedisTarget, timeout: float = 3.0) -> Probe:
    try:
        with RedisConnection(target, timeout) as conn:
            try:
                if target.password:
                    args = [target.username, target.password] if target.username else [target.password]
                    conn.command("AUTH", *args)
                pong = conn.command("PING")
                if pong != "PONG":
                    return Probe("foreign", f"PING got {pong!r}")
                if target.db:
                    conn.command("SELECT", target.db)
            except RedisReplyError as e:
                msg = str(e)
                if msg.startswith("LOADING"):
                    return Probe("starting", msg)
                if msg.startswith(("NOAUTH", "WRONGPASS", "ERR invalid password", "ERR AUTH")) or "password" in msg:
                    return Probe("auth", msg)
                if msg.startswith("ERR unknown command") or msg.startswith("ERR Protocol"):
                    return Probe("foreign", msg)
                return Probe("error", msg)
            except (ValueError, UnicodeError):
                return Probe("foreign", "unexpected reply: not Redis")
        return Probe("ok")
    except PgUnreachable as e:
        return Probe("down", str(e))
    except PgForeign as e:
        return Probe("foreign", str(e))


def redis_ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    return redis_probe(RedisTarget(host, port), timeout).state == "ok"


# --------------------------------------------------------------------------- processes and users


def _is_root() -> bool:
    return os.geteuid() == 0


def _run(argv: list[str], *, timeout: float = 120, cwd: Path | None = None, env: dict | None = None,
         check: bool = False, what: str = "") -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=env, start_new_session=True)
    except FileNotFoundError:
        raise ServiceError(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise ServiceError(f"{what or shlex.join(argv)} did not finish within {timeout:g} s") from None
    if check and proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-2000:]
        raise ServiceError(f"{what or shlex.join(argv)} failed (exit {proc.returncode}):\n{output}")
    return proc


def _clean_env() -> dict[str, str]:
    """The environment for server tools: no PG*/REDIS* variables that could redirect them elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "REDIS"))}
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return "(no log)"


def _ensure_pg_system_user() -> tuple[int, int]:
    """The `postgres` system user (created when absent): PostgreSQL refuses to run as root."""
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        _run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/var/lib/postgresql",
              "--shell", "/bin/sh", "--comment", "PostgreSQL administrator", "postgres"],
             check=True, what="creating the postgres system user")
        entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


def _can_traverse(path: Path, uid: int, gid: int) -> bool:
    """Whether user `uid` can reach `path` (search permission on it and every ancestor)."""
    import pwd

    try:
        groups = set(os.getgrouplist(pwd.getpwuid(uid).pw_name, gid))
    except KeyError:
        groups = {gid}
    for part in [path, *path.parents]:
        try:
            st = part.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------- finding and installing binaries


def _version_key(path: str) -> tuple:
    m = re.search(r"/(\d+(?:\.\d+)*)/bin", path) or re.search(r"pgsql-(\d+(?:\.\d+)*)", path)
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def find_pg_bindir(version: str | None = None) -> Path | None:
    """A directory holding initdb, pg_ctl and postgres (Debian layout first, then PATH, pg_config)."""
    if version:
        candidates = [f"/usr/lib/postgresql/{version}/bin"]
    else:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for name in ("initdb", "pg_ctl", "postgres"):
        found = shutil.which(name)
        if found:
            candidates.append(str(Path(found).resolve().parent))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(Exception):
            candidates.append(_run([pg_config, "--bindir"], timeout=10).stdout.strip())
    candidates += sorted(glob.glob("/usr/pgsql-*/bin"), key=_version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin", "/usr/local/bin", "/usr/bin"]
    for c in candidates:
        d = Path(c)
        if c and all(os.access(d / n, os.X_OK) for n in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def find_redis_server() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    for c in ("/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"):
        if os.access(c, os.X_OK):
            return c
    return None


def _print_line(line: str, err: bool = False) -> None:
    print(line, file=sys.stderr if err else sys.stdout, flush=True)


def apt_install(packages: list[str], log=_print_line) -> None:
    """`apt-get install -y` as root (with `apt-get update` only when the first attempt fails)."""
    apt = shutil.which("apt-get")
    if not (_is_root() and apt):
        why = "not running as root" if apt else "apt-get is not available"
        raise ServiceError(f"{' and '.join(packages)} {'is' if len(packages) == 1 else 'are'} not installed and this "
                           f"script cannot install {'it' if len(packages) == 1 else 'them'} ({why}): run "
                           f"`{INSTALL_HINT}` (or your system's equivalent), or point DATABASE_URL / "
                           "CELERY_BROKER_URL at servers that run")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    argv = [apt, "install", "-y", "--no-install-recommends", *packages]
    log(f"installing {' '.join(packages)} with apt-get …", err=True)
    if subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr).returncode:
        subprocess.run([apt, "update"], env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr)
        if subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr).returncode:
            raise ServiceError(f"apt-get could not install {' '.join(packages)}; install them yourself "
                               f"(`{INSTALL_HINT}`) and retry")


# --------------------------------------------------------------------------- private PostgreSQL clusters


@dataclass
class PrivateService:
    kind: str
    dir: str
    port: int
    url: str
    pid: int | None
    data_dir: str
    log: str


_PG_POINTER = "DATA_LOCATION"
_PG_STATE = "zohosync-postgres.json"


def _pg_owner(home: Path) -> tuple[int, int] | None:
    """The uid/gid to run server tools as: None when running as that user already."""
    if not _is_root():
        return None
    data = home / "data"
    if data.exists():
        st = data.stat()
        if st.st_uid != 0:
            return st.st_uid, st.st_gid
    return _ensure_pg_system_user()


def _pg_home(dir: Path) -> Path:
    """Where the cluster lives: `dir` itself, unless root's `postgres` user cannot reach it.

    PostgreSQL refuses to run as root, and as `postgres` it needs search permission on
    every ancestor of its data directory; pytest's temp dirs (0700, root's) have none. Then
    the cluster lives in a fresh directory under /var/tmp and `dir` records where.
    """
    dir.mkdir(parents=True, exist_ok=True)
    pointer = dir / _PG_POINTER
    if pointer.exists():
        home = Path(pointer.read_text().strip())
        home.mkdir(parents=True, exist_ok=True)
    elif not _is_root():
        return dir
    else:
        uid, gid = _ensure_pg_system_user()
        if _can_traverse(dir.parent, uid, gid) or (dir / "data").exists():
            home = dir
        else:
            base = "/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir()
            home = Path(tempfile.mkdtemp(prefix="zohosync-pg-", dir=base))
            pointer.write_text(str(home) + "\n")
    if _is_root():
        owner = _pg_owner(home)
        assert owner is not None
        if home.stat().st_uid != owner[0]:
            os.chown(home, *owner)
    return home


def _as_owner(argv: list[str], owner: tuple[int, int] | None) -> list[str]:
    if owner is None:
        return argv
    import pwd

    name = pwd.getpwuid(owner[0]).pw_name
    runuser = shutil.which("runuser") or ("/usr/sbin/runuser" if os.access("/usr/sbin/runuser", os.X_OK) else None)
    if runuser:
        return [runuser, "-u", name, "--", *argv]
    return ["su", "-s", "/bin/sh", name, "-c", shlex.join(argv)]


def _pg_running(bindir: Path, data: Path, owner) -> bool:
    if not (data / "postmaster.pid").exists():
        return False
    return _run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "status"], owner),
                timeout=30, env=_clean_env(), cwd=data.parent).returncode == 0


def _private_pg_bindir(dir: Path) -> Path:
    version = None
    with contextlib.suppress(OSError):
        version = (dir / "data" / "PG_VERSION").read_text().strip()
    bindir = find_pg_bindir(version) or find_pg_bindir()
    if bindir is None:
        raise ServiceError(f"PostgreSQL server binaries (initdb, pg_ctl) are not installed: run `{INSTALL_HINT}`")
    return bindir


def start_private_postgres(dir, port: int, databases=("zohosync",), *, host: str = "127.0.0.1",
                           user: str = "postgres", durable: bool = False,
                           timeout: float = START_TIMEOUT) -> PrivateService:
    """Start (creating it on first use) a PostgreSQL cluster whose files live under `dir`.

    Trust authentication, listening on `host`:`port` and a socket in its own directory.
    `durable=False` (throwaway clusters for tests) turns off fsync. Idempotent: a cluster
    already running there is left alone. The databases named are created when missing.
    """
    dir = Path(dir).absolute()
    home = _pg_home(dir)
    data = home / "data"
    log_file = home / "postgres.log"
    owner = _pg_owner(home)
    env = _clean_env()
    bindir = _private_pg_bindir(home)
    pg_ctl = str(bindir / "pg_ctl")
    target = PgTarget(host if host != "localhost" else "127.0.0.1", port, user, None, "postgres", "disable")

    if _pg_running(bindir, data, owner):
        state = _read_state(dir / _PG_STATE)
        if state.get("port") == port and pg_probe(target, 2).answered:
            return _finish_private_pg(dir, home, port, host, user, databases, target)
        stop_private_postgres(dir, remove=False)

    if not (data / "PG_VERSION").exists():
        if pg_probe(target, 1).state != "down":
            raise ServiceError(f"port {port} on {host} is already in use; choose another port")
        if data.exists():
            shutil.rmtree(data)
        base = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8"]
        if not durable:
            base.append("--no-sync")
        result = None
        for locale in ("C.UTF-8", "C"):
            result = _run(_as_owner(base + [f"--locale={locale}"], owner), timeout=120, env=env, cwd=home)
            if result.returncode == 0:
                break
            shutil.rmtree(data, ignore_errors=True)
        if result is None or result.returncode != 0:
            out = (result.stdout + result.stderr).strip()[-2000:] if result else ""
            raise ServiceError(f"initdb failed in {data}:\n{out}")
    elif pg_probe(target, 1).state != "down":
        raise ServiceError(f"port {port} on {host} is already in use; choose another port")

    socket_dir = str(home)
    if len(socket_dir) + len("/.s.PGSQL.65535.lock") > 100:
        socket_dir = ""  # over the sun_path limit: TCP only
    listen = {"localhost": "localhost", "::1": "::1"}.get(host, "127.0.0.1" if host.startswith("127.") or
                                                           host.startswith("/") else host)
    options = ["-p", str(port), "-k", socket_dir, "-c", f"listen_addresses={listen}", "-c", "max_connections=200"]
    if not durable:
        options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    result = _run(_as_owner([pg_ctl, "-D", str(data), "-l", str(log_file), "-w", "-t", str(int(timeout)),
                             "-o", shlex.join(options), "start"], owner),
                  timeout=timeout + 15, env=env, cwd=home)
    if result.returncode != 0:
        raise ServiceError(f"PostgreSQL did not start on port {port} (data in {data}): "
                           f"{(result.stdout + result.stderr).strip()[-500:]}\nlog:\n{_tail(log_file)}")
    state = {"port": port, "host": host, "user": user, "home": str(home)}
    if databases:
        state["database"] = next(iter(databases))
    else:
        state["database"] = _read_state(dir / _PG_STATE).get("database", "postgres")
    _write_state(dir / _PG_STATE, state)
    if not _wait(lambda: pg_probe(target, 1).answered, timeout):
        raise ServiceError(f"PostgreSQL started but does not answer on {target.address}; log:\n{_tail(log_file)}")
    return _finish_private_pg(dir, home, port, host, user, databases, target)


def _finish_private_pg(dir: Path, home: Path, port: int, host: str, user: str, databases,
                       target: PgTarget) -> PrivateService:
    for name in databases:
        create_database(target, name)
    first = next(iter(databases), None) or _read_state(dir / _PG_STATE).get("database", "postgres")
    return PrivateService("postgres", str(dir), port, f"postgresql+psycopg2://{user}@{_hostport(host, port)}/{first}",
                          _read_pid(home / "data" / "postmaster.pid"), str(home / "data"), str(home / "postgres.log"))


def stop_private_postgres(dir, port: int | None = None, *, remove: bool = True, timeout: float = START_TIMEOUT) -> bool:
    """Fast shutdown of the cluster under `dir` (never any other). True if one was running.

    With `remove`, a cluster kept outside `dir` (see `_pg_home`) is deleted too, so
    throwaway clusters leave nothing behind; `dir` itself is the caller's to delete.
    """
    dir = Path(dir).absolute()
    pointer = dir / _PG_POINTER
    home = Path(pointer.read_text().strip()) if pointer.exists() else dir
    data = home / "data"
    was_running = False
    if (data / "PG_VERSION").exists():
        owner = _pg_owner(home)
        bindir = _private_pg_bindir(home)
        if (data / "postmaster.pid").exists():
            pid = _read_pid(data / "postmaster.pid")
            result = _run(_as_owner([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t",
                                     str(int(timeout)), "stop"], owner),
                          timeout=timeout + 15, env=_clean_env(), cwd=home)
            was_running = result.returncode == 0
            if pid and _pid_alive(pid) and "postgres" in _cmdline(pid) and str(data) in _cmdline(pid):
                os.kill(pid, signal.SIGQUIT)  # immediate shutdown when fast did not finish
                _wait(lambda: not _pid_alive(pid), 10)
    if remove and pointer.exists():
        shutil.rmtree(home, ignore_errors=True)
        pointer.unlink()
    return was_running


def restart_private_postgres(dir, port: int, databases=(), **kwargs) -> PrivateService:
    """Fast shutdown, then start again on the same data: connections drop, data stays."""
    state = _read_state(Path(dir).absolute() / _PG_STATE)
    stop_private_postgres(dir, port, remove=False)
    kwargs.setdefault("host", state.get("host", "127.0.0.1"))
    kwargs.setdefault("user", state.get("user", "postgres"))
    return start_private_postgres(dir, port, databases, **kwargs)


# --------------------------------------------------------------------------- private Redis servers


_REDIS_STATE = "zohosync-redis.json"


def _read_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data) + "\n")


def _our_redis_pid(dir: Path) -> int | None:
    pid = _read_pid(dir / "redis.pid")
    if pid and _pid_alive(pid) and "redis" in _cmdline(pid):
        return pid
    return None


def start_private_redis(dir, port: int, *, host: str = "127.0.0.1", password: str | None = None,
                        timeout: float = START_TIMEOUT) -> PrivateService:
    """Start a Redis without persistence (`--save "" --appendonly no`) whose files live under `dir`."""
    dir = Path(dir).absolute()
    dir.mkdir(parents=True, exist_ok=True)
    target = RedisTarget(host, port, password=password)
    url = f"redis://{':' + password + '@' if password else ''}{_hostport(host, port)}/0"
    pid = _our_redis_pid(dir)
    if pid:
        if _read_state(dir / _REDIS_STATE).get("port") == port and redis_probe(target, 1).state == "ok":
            return PrivateService("redis", str(dir), port, url, pid, str(dir), str(dir / "redis.log"))
        stop_private_redis(dir)
    if redis_probe(target, 1).state != "down":
        raise ServiceError(f"port {port} on {host} is already in use; choose another port")
    server = find_redis_server()
    if server is None:
        raise ServiceError(f"redis-server is not installed: run `{INSTALL_HINT}`")
    argv = [server]
    if password:  # in a 0600 file rather than on the command line, where `ps` shows it
        conf = dir / "redis-secret.conf"
        conf.touch(mode=0o600)
        conf.write_text(f"requirepass {password}\n")
        argv.append(str(conf))
    argv += ["--daemonize", "yes", "--bind", host, "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(dir), "--logfile", str(dir / "redis.log"), "--pidfile", str(dir / "redis.pid")]
    (dir / "redis.pid").unlink(missing_ok=True)
    result = _run(argv, timeout=timeout, env=_clean_env(), cwd=dir)
    if result.returncode != 0:
        raise ServiceError(f"redis-server did not start on port {port}: {(result.stdout + result.stderr).strip()}"
                           f"\nlog:\n{_tail(dir / 'redis.log')}")
    _write_state(dir / _REDIS_STATE, {"port": port, "host": host})
    if not _wait(lambda: redis_probe(target, 1).state == "ok", timeout):
        raise ServiceError(f"Redis started but does not answer on {target.address}; log:\n{_tail(dir / 'redis.log')}")
    _wait(lambda: _read_pid(dir / "redis.pid") is not None, 5)
    return PrivateService("redis", str(dir), port, url, _read_pid(dir / "redis.pid"), str(dir), str(dir / "redis.log"))


def stop_private_redis(dir, port: int | None = None, *, timeout: float = 15) -> bool:
    """SHUTDOWN NOSAVE the Redis under `dir`; True if one was running.

    A server counts as ours only when its pid is the one in our pid file *and* its working
    directory is `dir`, so a stale or copied pid file can never stop someone else's Redis.
    A server of ours that cannot be talked to (hung) is sent SIGTERM, then SIGKILL.
    """
    dir = Path(dir).absolute()
    pid = _our_redis_pid(dir)
    if pid is None:
        (dir / "redis.pid").unlink(missing_ok=True)
        return False
    state = _read_state(dir / _REDIS_STATE)
    port = port or state.get("port")
    host = state.get("host", "127.0.0.1")
    verdict = "unreachable"
    if port:
        errors = (PgUnreachable, PgForeign, RedisReplyError, OSError, ValueError)
        with contextlib.suppress(*errors), RedisConnection(RedisTarget(host, int(port)), 2) as conn:
            verdict = "foreign"
            info = conn.command("INFO", "server") or ""
            workdir = (conn.command("CONFIG", "GET", "dir") or [None, None])[1]
            if re.search(rf"^process_id:{pid}\r?$", info, re.M) and workdir and \
                    Path(workdir).resolve() == dir.resolve():
                conn.sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                verdict = "sent"
    if verdict == "foreign":
        (dir / "redis.pid").unlink(missing_ok=True)
        return False
    if verdict == "unreachable":
        if not (port and _cmdline(pid).rstrip().endswith(f":{port}")):
            (dir / "redis.pid").unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
    if not _wait(lambda: not _pid_alive(pid), timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: not _pid_alive(pid), 5)
    (dir / "redis.pid").unlink(missing_ok=True)
    return True


def restart_private_redis(dir, port: int, **kwargs) -> PrivateService:
    """Stop and start again: with no persistence, the new server is empty (every message gone)."""
    state = _read_state(Path(dir).absolute() / _REDIS_STATE)
    stop_private_redis(dir, port)
    kwargs.setdefault("host", state.get("host", "127.0.0.1"))
    return start_private_redis(dir, port, **kwargs)


# --------------------------------------------------------------------------- the check-and-start flow


def debian_clusters(etc: str = "/etc/postgresql") -> list[tuple[str, str, int]]:
    """(version, name, port) of every cluster configured under /etc/postgresql (Debian's layout)."""
    clusters = []
    for conf in sorted(glob.glob(f"{etc}/*/*/postgresql.conf")):
        parts = Path(conf).parts
        port = 5432
        with contextlib.suppress(OSError):
            m = re.search(r"^\s*port\s*=\s*(\d+)", Path(conf).read_text(errors="replace"), re.M)
            if m:
                port = int(m.group(1))
        clusters.append((parts[-3], parts[-2], port))
    return clusters


def _allow_loopback_trust(version: str, name: str, user: str) -> bool:
    """On a cluster this run just installed: let `user` in over loopback without a password.

    Debian's fresh cluster asks for a password on TCP while the default DATABASE_URL has
    none; this adds two narrow, marked lines (first match wins in pg_hba.conf) and reloads.
    Never done to a cluster that existed before this run.
    """
    hba = Path(f"/etc/postgresql/{version}/{name}/pg_hba.conf")
    try:
        text = hba.read_text()
    except OSError:
        return False
    marker = "# zohosync: passwordless loopback for the development database"
    if marker not in text:
        lines = f"{marker} (added by scripts/ensure_services.py on a fresh install)\n" \
                f"host all {user} 127.0.0.1/32 trust\nhost all {user} ::1/128 trust\n"
        hba.write_text(lines + text)
    return _run(["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "reload"], timeout=60).returncode == 0


class Ensurer:
    def __init__(self, database_url: str, broker_url: str, databases: list[str], run_dir: Path, *,
                 start: bool = True, install: bool = True, timeout: float = 3.0, wait: float = 0.0,
                 quiet: bool = False):
        self.pg = parse_database_url(database_url)
        self.redis = parse_broker_url(broker_url)
        self.databases = list(dict.fromkeys([self.pg.database, *databases]))
        self.run_dir = Path(run_dir).absolute()
        self.start, self.install, self.timeout, self.wait, self.quiet = start, install, timeout, wait, quiet
        self.installed: set[str] = set()
        self.errors: list[str] = []

    def say(self, line: str, err: bool = False) -> None:
        if err or not self.quiet:
            print(line, file=sys.stderr if err else sys.stdout, flush=True)

    # -- entry point
    def run(self) -> int:
        pg = self._probe_pg()
        rd = self._probe_redis()
        need = []
        if pg.state == "down" and self.pg.local and self.start:
            need.append("postgres")
        if rd.state == "down" and self.redis.local and self.redis.socket_path is None and self.start:
            need.append("redis")
        if need:
            with self._lock():
                pg, rd = self._probe_pg(), self._probe_redis()  # another run may have started them meanwhile
                self._install_missing(pg, rd, need)
                if pg.state == "down" and "postgres" in need:
                    pg = self._guard("postgres", self._start_postgres)
                if rd.state == "down" and "redis" in need:
                    rd = self._guard("redis", self._start_redis)
        if pg is not None:
            self._guard("postgres", lambda: self._finish_postgres(pg))
        if rd is not None:
            self._guard("redis", lambda: self._finish_redis(rd))
        for error in self.errors:
            self.say(f"ensure_services: {error}", err=True)
        return 1 if self.errors else 0

    def _stop_hint(self) -> str:
        hint = "python3 scripts/ensure_services.py --stop"
        if self.run_dir != (ROOT / ".run").absolute():
            hint += f" --run-dir {shlex.quote(str(self.run_dir))}"
        return hint

    def _guard(self, service: str, fn):
        try:
            return fn()
        except ServiceError as e:
            self.errors.append(f"{service}: {e}")
        except (PgError, PgUnreachable, PgForeign, RedisReplyError) as e:
            self.errors.append(f"{service}: {type(e).__name__}: {e}")
        return None

    @contextlib.contextmanager
    def _lock(self):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / ".ensure_services.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _poll(self, probe) -> Probe:
        """Probe; ask again a while when the server is starting up, or (with --wait) does not answer."""
        started = time.monotonic()
        result = probe()
        while True:
            elapsed = time.monotonic() - started
            starting = result.state == "starting" and elapsed < START_TIMEOUT
            awaited = result.state == "down" and elapsed < self.wait
            if not (starting or awaited):
                return result
            time.sleep(0.25)
            result = probe()

    def _probe_pg(self) -> Probe:
        return self._poll(lambda: pg_probe(self.pg, self.timeout))

    def _probe_redis(self) -> Probe:
        return self._poll(lambda: redis_probe(self.redis, self.timeout))

    # -- installing
    def _install_missing(self, pg: Probe, rd: Probe, need: list[str]) -> None:
        """apt-get the server packages a needed start lacks, when allowed and possible (root + apt-get).

        When not possible, nothing happens here: starting then fails with a message naming
        the packages to install.
        """
        missing = []
        if "postgres" in need and pg.state == "down" and find_pg_bindir() is None:
            missing.append("postgresql")
        if "redis" in need and rd.state == "down" and find_redis_server() is None:
            missing.append("redis-server")
        if not missing or not self.install or not _is_root() or not shutil.which("apt-get"):
            return
        try:
            apt_install(missing, self.say)
        except ServiceError as e:
            self.errors.append(f"install: {e}")
            return
        self.installed.update(missing)

    # -- PostgreSQL
    def _start_postgres(self) -> Probe:
        t = self.pg
        if find_pg_bindir() is None:
            raise ServiceError(f"PostgreSQL does not answer on {t.address} and its server is not installed: run "
                               f"`{INSTALL_HINT}`, or set DATABASE_URL to a server that runs")
        pg_ctlcluster = shutil.which("pg_ctlcluster")
        for version, name, port in debian_clusters():
            if port != t.port or not pg_ctlcluster:
                continue
            result = _run([pg_ctlcluster, "--skip-systemctl-redirect", version, name, "start"], timeout=120)
            if result.returncode not in (0, 2):  # 2: already running
                self.say(f"postgres: could not start cluster {version}/{name} "
                         f"({(result.stdout + result.stderr).strip()[:200]}); using a private cluster", err=True)
                continue
            if _wait(lambda: pg_probe(t, 1).answered, START_TIMEOUT, 0.25):
                probe = pg_probe(t, self.timeout)
                fresh = "postgresql" in self.installed and _is_root() and t.password is None
                if probe.state == "auth" and fresh and _allow_loopback_trust(version, name, t.user):
                    self.say(f"postgres: fresh cluster {version}/{name}: allowed passwordless loopback "
                             f"connections for {t.user} in its pg_hba.conf", err=True)
                    _wait(lambda: pg_probe(t, 1).state != "auth", 10, 0.25)
                    probe = pg_probe(t, self.timeout)
                self.say(f"postgres: started cluster {version}/{name} (port {port})")
                return probe
            raise ServiceError(f"cluster {version}/{name} was started but does not answer on {t.address}; see "
                               f"/var/log/postgresql/postgresql-{version}-{name}.log (listen_addresses?)")
        if t.host.startswith("/"):
            raise ServiceError(f"PostgreSQL does not answer at {t.address}; start it, or use a TCP DATABASE_URL "
                               "(postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync) to get a private cluster")
        home = self.run_dir / "postgres"
        svc = start_private_postgres(home, t.port, (), host=t.host, user=t.user, durable=True)
        self.say(f"postgres: started a private cluster in {_show(home)} (log {_show(Path(svc.log))}); "
                 f"stop it with `{self._stop_hint()}`")
        return pg_probe(t, self.timeout)

    def _finish_postgres(self, probe: Probe) -> None:
        t = self.pg
        if probe.state == "down":
            if not t.local:
                raise ServiceError(f"PostgreSQL at {t.address} does not answer ({probe.detail}); the host is not "
                                   "local, so nothing was started: start that server or set DATABASE_URL (in the "
                                   "environment or .env) to one that runs")
            raise ServiceError(f"PostgreSQL does not answer on {t.address} ({probe.detail}) and --no-start was given"
                               f": start it (or run without --no-start), or set DATABASE_URL to a server that runs")
        if probe.state == "starting":
            raise ServiceError(f"PostgreSQL on {t.address} is still starting up after {START_TIMEOUT:g} s")
        if probe.state == "foreign":
            raise ServiceError(f"something on {t.address} answers but is not PostgreSQL ({probe.detail}): "
                               "check the host and port in DATABASE_URL")
        if probe.state == "auth":
            raise ServiceError(f"PostgreSQL on {t.address} refused user {t.user!r}: {probe.detail}. Put the right "
                               "user and password in DATABASE_URL (postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB)")
        if probe.state == "error":
            raise ServiceError(f"PostgreSQL on {t.address} answered with an error: {probe.detail}")
        if probe.state == "unsupported":
            created = _psycopg2_ensure(t, self.databases)
        else:
            created = []
            for name in self.databases:
                state = probe.state if name == t.database else pg_probe(t.on(name), self.timeout).state
                if state == "missing":
                    if create_database(t, name):
                        created.append(name)
                elif state != "ok":
                    raise ServiceError(f"database {name!r} on {t.address}: {state}")
        extra = f"; created database {', '.join(created)}" if created else ""
        self.say(f"postgres: ok ({t.address}{extra})")

    # -- Redis
    def _start_redis(self) -> Probe:
        t = self.redis
        if find_redis_server() is None:
            raise ServiceError(f"Redis does not answer on {t.address} and redis-server is not installed: "
                               f"run `{INSTALL_HINT}`, or set CELERY_BROKER_URL to a server that runs")
        if t.tls:
            raise ServiceError(f"Redis does not answer on {t.address} (rediss://); this script starts only plain "
                               "local Redis: start that server or use redis://127.0.0.1:6379/0")
        host = {"localhost": "127.0.0.1", "ip6-localhost": "::1"}.get(t.host, t.host)
        home = self.run_dir / "redis"
        start_private_redis(home, t.port, host=host, password=t.password)
        self.say(f"redis: started a private server in {_show(home)} (no persistence); "
                 f"stop it with `{self._stop_hint()}`")
        return redis_probe(t, self.timeout)

    def _finish_redis(self, probe: Probe) -> None:
        t = self.redis
        if probe.state == "down":
            if not t.local:
                raise ServiceError(f"Redis at {t.address} does not answer ({probe.detail}); the host is not local, "
                                   "so nothing was started: start that server or set CELERY_BROKER_URL (in the "
                                   "environment or .env) to one that runs")
            raise ServiceError(f"Redis does not answer on {t.address} ({probe.detail}) and "
                               f"{'--no-start was given' if not self.start else 'it cannot be started here'}: start "
                               "it, or set CELERY_BROKER_URL to a server that runs")
        if probe.state == "foreign":
            raise ServiceError(f"something on {t.address} answers but is not Redis ({probe.detail}): "
                               "check the host and port in CELERY_BROKER_URL")
        if probe.state == "auth":
            raise ServiceError(f"Redis on {t.address} refused the credentials in CELERY_BROKER_URL: {probe.detail}")
        if probe.state != "ok":
            raise ServiceError(f"Redis on {t.address}: {probe.state} {probe.detail}".strip())
        self.say(f"redis: ok ({t.address})")


def _show(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(Path.cwd()))
    return str(path)


def stop_local(run_dir: Path) -> list[str]:
    """Stop what `Ensurer` started under `run_dir` (never the machine's own services). Data stays."""
    stopped = []
    if stop_private_postgres(run_dir / "postgres", remove=False):
        stopped.append("postgres")
    if stop_private_redis(run_dir / "redis"):
        stopped.append("redis")
    return stopped


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_private(dir, pg_port: int | None = None, redis_port: int | None = None,
                  databases=("zohosync",)) -> dict[str, str]:
    """A throwaway PostgreSQL + Redis pair under `dir`; returns their URLs."""
    dir = Path(dir).absolute()
    dir.mkdir(parents=True, exist_ok=True)
    pg_port = pg_port or free_port()
    redis_port = redis_port or free_port()
    databases = list(dict.fromkeys(databases)) or ["zohosync"]
    _write_state(dir / "private.json", {"pg_port": pg_port, "redis_port": redis_port})
    pg = start_private_postgres(dir / "postgres", pg_port, databases)
    try:
        rd = start_private_redis(dir / "redis", redis_port)
    except BaseException:
        stop_private_postgres(dir / "postgres", pg_port)
        raise
    return {"DATABASE_URL": pg.url, "CELERY_BROKER_URL": rd.url, "dir": str(dir)}


def stop_private(dir) -> list[str]:
    dir = Path(dir).absolute()
    state = _read_state(dir / "private.json")
    stopped = []
    if stop_private_redis(dir / "redis", state.get("redis_port")):
        stopped.append("redis")
    if stop_private_postgres(dir / "postgres", state.get("pg_port")):
        stopped.append("postgres")
    return stopped


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database", action="append", default=[], metavar="NAME",
                   help="another database to create when missing (repeatable)")
    p.add_argument("--no-start", action="store_true", help="only check; never start or install anything")
    p.add_argument("--no-install", action="store_true", help="never install packages")
    p.add_argument("--run-dir", type=Path, default=ROOT / ".run",
                   help="where locally started services keep their files (default: <repo>/.run)")
    p.add_argument("--env-file", type=Path, default=None,
                   help="KEY=VALUE file read under the environment (default: $ZOHOSYNC_ENV_FILE or <repo>/.env)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a connection (default 3)")
    p.add_argument("--wait", type=float, default=0.0, help="keep retrying a service that does not answer this long")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    p.add_argument("--stop", action="store_true", help="stop the services this script started under --run-dir")
    p.add_argument("--private", type=Path, metavar="DIR", help="start a throwaway PostgreSQL + Redis under DIR")
    p.add_argument("--stop-private", type=Path, metavar="DIR", help="stop the throwaway pair under DIR")
    p.add_argument("--pg-port", type=int, help="port of the private PostgreSQL (default: a free one)")
    p.add_argument("--redis-port", type=int, help="port of the private Redis (default: a free one)")
    args = p.parse_args(argv)

    try:
        if args.stop_private:
            stopped = stop_private(args.stop_private)
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return 0
        if args.private:
            print(json.dumps(start_private(args.private, args.pg_port, args.redis_port,
                                           ["zohosync", *args.database])))
            return 0
        if args.stop:
            stopped = stop_local(args.run_dir)
            print(f"stopped: {', '.join(stopped) or 'nothing this script started was running'}")
            return 0
        database_url, broker_url = load_urls(args.env_file)
        ensurer = Ensurer(database_url, broker_url, args.database, args.run_dir, start=not args.no_start,
                          install=not (args.no_install or args.no_start), timeout=args.timeout, wait=args.wait,
                          quiet=args.quiet)
        return ensurer.run()
    except ServiceError as e:
        print(f"ensure_services: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

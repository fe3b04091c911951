"""End-to-end benchmark of the agent API (run by hand: `make bench`; not a timed test).

Serves the app with gunicorn (4 sync workers, config.wsgi) on a fresh PostgreSQL database,
in front of a local upstream API (bench/upstream.py), and measures in one run, side by side:

* direct calls to the upstream (the load generator's own ceiling),
* POST /api/v1/gpts/{id}/invoke for an action with an API key,
* the same for an action with OAuth (a live Connection for the bench user),

at each concurrency level: p50, p99 and throughput, plus the CPU each process spent per
request; then the same at the highest level with an upstream that answers in --slow-ms; a
refresh storm (N concurrent invokes on an expired OAuth connection must make exactly one token
request); and, in this process through Django's WSGI handler on the same database, the SQL
queries per invoke and where an invoke's time goes. BENCHMARKS.md explains every column.

The load generator is wrk (installed with apt-get when missing and run as root). Every
process started here (upstream, gunicorn) is stopped in `finally`, by process group; the
database is dropped at the end unless --keep-db.
"""

# ruff: noqa: S603, S607, S608 - fixed commands and identifiers chosen here, no user input

import argparse
import http.client
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the app served; --app-dir changes it
BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
WORKERS = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")

KEY_OPERATION, OAUTH_OPERATION = "getItemWithKey", "getItemWithOAuth"
SLOW_OPERATION = "getItemSlowly"  # an API-key action on slow.localhost: answers after --slow-ms
ARGUMENTS = {"id": "42", "fields": "name,price"}
UPSTREAM_PATH = "/v1/items/42?fields=name%2Cprice"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class BenchFailed(Exception):
    """A check failed: the run says what and exits non-zero."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchFailed(message)


# --- processes ---------------------------------------------------------------------------


class Processes:
    """Children in their own process groups, stopped (TERM, then KILL) whatever happens."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], *, env: dict, log_path: Path) -> subprocess.Popen:
        out = open(log_path, "wb")  # noqa: SIM115 - kept open for the child's lifetime
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.started.append((name, proc))
        return proc

    def stop(self, only: str) -> None:
        self.stop_all(only=only)

    def stop_all(self, only: str | None = None) -> None:
        for name, proc in reversed(self.started):
            if only not in (None, name):
                continue
            try:  # the whole group: gunicorn's workers too, even if the master is gone
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop in 15 s; killing its process group")
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still there
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)
        self.started = [(n, p) for n, p in self.started if only not in (None, n)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, name: str, log_path: Path, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailed(f"{name} exited with {proc.returncode}:\n{tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise BenchFailed(f"{name} did not listen on {port} within {timeout:g} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of one process (0 if it is gone), plus that of its children it has
    waited for when asked (gunicorn's master: workers recycled by max_requests)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat)."""
    with open("/proc/stat") as fh:
        ticks = [int(x) for x in fh.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLK_TCK  # minus idle and iowait


def reference_loop_ms() -> float:
    """CPU ms of a fixed pure-Python loop (best of 3): how fast this machine's CPU runs Python
    right now. On a shared host it varies, and every CPU-per-request figure varies with it."""

    def once() -> float:
        started, total = time.process_time(), 0
        for i in range(300_000):
            total += i * i % 7
        return (time.process_time() - started) * 1000

    return min(once() for _ in range(3))


def wait_for_quiet(timeout: float, *, cores: float = 0.3) -> float:
    """Wait (at most `timeout` s) until the machine is busy below `cores` over one second; the
    machine is shared with other work (tests...). Returns the last load seen."""
    deadline = time.monotonic() + timeout
    while True:
        before = machine_busy()
        time.sleep(1.0)
        load = machine_busy() - before
        if load < cores or time.monotonic() >= deadline:
            return load


class Heartbeat(threading.Thread):
    """Sleeps 10 ms at a time and keeps the longest oversleep: a stall of the whole machine
    (a paused VM, a stolen CPU) shows up here, and in every latency measured meanwhile."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.worst, self.stop = 0.0, threading.Event()

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            time.sleep(0.01)
            self.worst = max(self.worst, time.monotonic() - started - 0.01)


class PgBackends(threading.Thread):
    """CPU of the PostgreSQL backends serving the bench database, sampled every 250 ms so that
    a backend that exits (Django closes connections older than CONN_MAX_AGE) keeps counting.
    Processes are known by (pid, start time): pids are reused quickly on a busy machine."""

    def __init__(self, db_name: str):
        super().__init__(daemon=True)
        self.db_name = db_name
        self.last: dict[tuple[int, str], float] = {}
        self.others: set[tuple[int, str]] = set()
        self.lock, self.stop = threading.Lock(), threading.Event()

    def sample(self) -> None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                key = (int(entry), fields[19])  # field 22: start time
                if key in self.others:
                    continue
                if key not in self.last:
                    with open(f"/proc/{entry}/cmdline", "rb") as fh:
                        title = fh.read().replace(b"\0", b" ").decode(errors="replace")
                    if not (title.startswith("postgres: ") and f" {self.db_name} " in title):
                        self.others.add(key)
                        continue
            except (OSError, IndexError):
                continue
            seconds = (int(fields[11]) + int(fields[12])) / CLK_TCK
            with self.lock:
                self.last[key] = max(seconds, self.last.get(key, 0.0))

    def total(self) -> float:
        self.sample()
        with self.lock:
            return sum(self.last.values())

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.sample()


# --- machine and tools -------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchFailed("wrk is missing: install Debian's 'wrk' (apt-get install -y wrk).")
    log("installing wrk with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "timeout": 300}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode:
        subprocess.run(["apt-get", "update", "-qq"], check=True, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, **quiet)
    return shutil.which("wrk") or "wrk"


def machine() -> dict:
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    model = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = run(["free", "-h"]).splitlines()
    mem = mem[1].split() if len(mem) > 1 else []
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": run(["nproc"]),
        "cpu": model,
        "memory": f"{mem[1]} RAM ({mem[6]} available)" if len(mem) > 6 else "?",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": run(["wrk", "--version"]).splitlines()[0].split(" [")[0]
        if shutil.which("wrk")
        else "?",
    }


# --- database ----------------------------------------------------------------------------


def psql(pg: dict, sql: str) -> str:
    cmd = ["psql", "-h", pg["host"], "-p", pg["port"], "-U", pg["user"], "-d", "postgres"]
    result = subprocess.run(
        [*cmd, "-v", "ON_ERROR_STOP=1", "-tAc", sql], capture_output=True, text=True, timeout=60
    )
    if result.returncode:
        raise BenchFailed(f"psql failed ({sql}): {result.stderr.strip()}")
    return result.stdout.strip()


def fresh_database(pg: dict, name: str) -> None:
    url = f"postgres://{pg['user']}@{pg['host']}:{pg['port']}/postgres"
    subprocess.run([str(ROOT / "scripts" / "ensure-postgres"), url], check=True, timeout=60)
    psql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(pg, f'CREATE DATABASE "{name}"')


# --- the app's data ----------------------------------------------------------------------


def item_schema(server_url: str, operation_id: str) -> str:
    return json.dumps(
        {
            "openapi": "3.1.0",
            "info": {"title": f"Bench items ({operation_id})", "version": "1"},
            "servers": [{"url": server_url}],
            "paths": {
                "/v1/items/{id}": {
                    "get": {
                        "operationId": operation_id,
                        "summary": "One item",
                        "parameters": [
                            {
                                "name": "id",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string", "maxLength": 20},
                            },
                            {"name": "fields", "in": "query", "schema": {"type": "string"}},
                        ],
                        "responses": {"200": {"description": "The item"}},
                    }
                }
            },
        }
    )


def create_data(secrets_: dict, upstream_port: int) -> dict:
    """The bench user, a GPT with an API-key action and an OAuth action on the upstream, a live
    Connection, and an agent client with an access token (scope `actions`)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    from actions.models import GPT, Action, Connection
    from actions.schemas import save_action_schema
    from actions.validation import check_header_name, check_oauth_url

    user = get_user_model().objects.create_user("bench", email="bench@example.com")
    gpt = GPT.objects.create(owner=user, name="Bench GPT", visibility=GPT.Visibility.ONLY_ME)

    key_url = f"http://apikey.localhost:{upstream_port}"
    keyed, _ = save_action_schema(gpt=gpt, text=item_schema(key_url, KEY_OPERATION))
    keyed.auth_type = Action.AuthType.API_KEY
    keyed.api_key = secrets_["api_key"]
    keyed.api_key_auth_type = Action.ApiKeyAuthType.CUSTOM
    keyed.custom_header_name = check_header_name("X-Api-Key")
    keyed.save()

    slow_url = f"http://slow.localhost:{upstream_port}"
    slow, _ = save_action_schema(gpt=gpt, text=item_schema(slow_url, SLOW_OPERATION))
    slow.auth_type = Action.AuthType.API_KEY
    slow.api_key = secrets_["api_key"]
    slow.api_key_auth_type = Action.ApiKeyAuthType.CUSTOM
    slow.custom_header_name = "X-Api-Key"
    slow.save()

    oauth_url = f"http://oauth.localhost:{upstream_port}"
    oauth, _ = save_action_schema(gpt=gpt, text=item_schema(oauth_url, OAUTH_OPERATION))
    oauth.auth_type = Action.AuthType.OAUTH
    oauth.client_id = secrets_["client_id"]
    oauth.client_secret = secrets_["client_secret"]
    for field, path in (("authorization_url", "/authorize"), ("token_url", "/token")):
        setattr(
            oauth, field, check_oauth_url(oauth_url + path, field=field, action_domain=oauth.domain)
        )
    oauth.scope = "items"
    oauth.token_exchange_method = Action.TokenExchangeMethod.DEFAULT_POST
    oauth.save()
    connection = Connection.objects.create(
        user=user,
        action=oauth,
        access_token=secrets_["access_token"],
        refresh_token=secrets_["refresh_token"],
        expires_at=timezone.now() + timedelta(hours=2),
        scope="items",
    )

    app = Application.objects.create(
        name="Bench agent",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:8765/callback",
        user=user,
        algorithm="",
    )
    agent_token = secrets.token_urlsafe(32)
    AccessToken.objects.create(
        user=user,
        application=app,
        token=agent_token,
        expires=timezone.now() + timedelta(days=1),
        scope="actions",
    )
    return {"gpt_id": gpt.id, "connection_id": connection.pk, "agent_token": agent_token}


def invoke_body(operation: str) -> str:
    return json.dumps({"operation": operation, "arguments": ARGUMENTS}, separators=(",", ":"))


# --- talking to the servers --------------------------------------------------------------


def http_call(port: int, method: str, path: str, *, body: str = "", headers=None, timeout=30.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() or None, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class Upstream:
    def __init__(self, port: int):
        self.port = port

    def stats(self) -> dict:
        status, _, body = http_call(self.port, "GET", "/_stats")
        check(status == 200, f"upstream /_stats answered {status}")
        return json.loads(body)

    def settled(self, quiet: float = 0.3, timeout: float = 15.0) -> dict:
        """The counters once no request has arrived for `quiet` s: after wrk stops, gunicorn
        still serves what was queued in its listen backlog."""
        deadline = time.monotonic() + timeout
        last = self.stats()
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = self.stats()
            if now["requests"] == last["requests"] + 1:  # only our own /_stats call
                return now
            last = now
        raise BenchFailed(f"the upstream kept receiving calls for {timeout:g} s")


def delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if isinstance(v, int)}


# --- wrk ---------------------------------------------------------------------------------

LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
"""


def lua_script(path: Path, *, method: str, headers: dict, body: str = "") -> Path:
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = [[{body}]]")
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n" + LUA_DONE)
    return path


def run_wrk(wrk: str, url: str, script: Path, *, connections: int, seconds: float) -> dict:
    threads = min(2, connections)
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    result = subprocess.run(
        [*cmd, "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60
    )
    found = re.search(r"BENCH_JSON (\{.*\})", result.stdout)
    if result.returncode or not found:
        raise BenchFailed(f"wrk failed ({result.returncode}): {result.stdout}{result.stderr}")
    data = json.loads(found.group(1))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return data


class CpuMeter:
    """CPU seconds spent by the app (gunicorn), PostgreSQL backends, upstream and wrk."""

    def __init__(self, gunicorn_pid: int, upstream_pid: int, pg: PgBackends):
        self.gunicorn_pid, self.upstream_pid, self.pg = gunicorn_pid, upstream_pid, pg
        self.heartbeat = Heartbeat()
        self.heartbeat.start()

    def workers(self) -> set[int]:
        return set(children(self.gunicorn_pid))

    def read(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
        return {
            "app": cpu_seconds(self.gunicorn_pid, reaped_children=True)
            + sum(cpu_seconds(p) for p in self.workers()),
            "pg": self.pg.total(),
            "upstream": cpu_seconds(self.upstream_pid),
            "client": usage.ru_utime + usage.ru_stime,
            "machine": machine_busy(),
        }


# --- in-process measurements -------------------------------------------------------------


class Timers:
    """Wall time spent in a few functions (perf_counter wrappers, far cheaper than cProfile)."""

    spent: dict[str, float] = {}
    calls: dict[str, int] = {}

    @classmethod
    def wrap(cls, owner, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                cls.spent[label] = cls.spent.get(label, 0.0) + time.perf_counter() - started
                cls.calls[label] = cls.calls.get(label, 0) + 1

        setattr(owner, attribute, timed)

    @classmethod
    def reset(cls) -> None:
        cls.spent, cls.calls = {}, {}


# Top-level parts of an invoke, in order; "  " marks a part of the part above.
TIMED = {
    "agent token check (DOT, 1 query)": ("actions.api", "agent_user"),
    "find operation (1 query)": ("actions.api", "find_operation"),
    "check arguments (jsonschema)": ("actions.executor", "check_arguments"),
    "credentials (OAuth: connection query)": ("actions.executor", "add_credentials"),
    "outbound HTTP call to the upstream": ("actions.outbound", "request"),
    "CallRecord insert (1 query)": ("actions.models", "CallRecord.save"),
}
SQL_LABEL = "SQL: every statement, incl. the health check"


def quiet_app_logs() -> None:
    """The app logs every outbound call at INFO on stderr: keep it (its cost is part of an
    invoke) but send it nowhere in this process."""
    import logging

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115


def install_meters() -> None:
    """Count and time every statement psycopg sends (Django's health-check SELECT 1 too), and
    time the parts of an invoke."""
    import importlib

    import psycopg

    Timers.wrap(psycopg.Cursor, "execute", SQL_LABEL)
    for label, (module, name) in TIMED.items():
        owner = importlib.import_module(module)
        if "." in name:
            class_name, name = name.split(".")
            owner = getattr(owner, class_name)
        Timers.wrap(owner, name, label)


def wsgi_invoke(application, gpt_id: str, agent_token: str, operation_id: str) -> dict:
    """One invoke through Django's WSGI handler, as a gunicorn worker runs it (request_started
    and request_finished signals included: the connection health check happens here)."""
    import io

    body = invoke_body(operation_id).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/api/v1/gpts/{gpt_id}/invoke",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": f"Bearer {agent_token}",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    status = []
    response = application(environ, lambda s, h, *_: status.append(s))
    try:
        payload = b"".join(response)
    finally:
        response.close()  # fires request_finished, like a WSGI server
    check(status[0].startswith("200"), f"in-process invoke: {status} {payload[:300]!r}")
    answer = json.loads(payload)
    check(answer["status"] == 200, f"in-process invoke: the upstream answered {answer}")
    return answer


def in_process(gpt_id: str, agent_token: str, count: int, quiet_timeout: float):
    """SQL per invoke (CaptureQueriesContext around the whole request, and around
    executor.invoke alone) and where an invoke's wall time goes, on the bench database. The
    two kinds are timed in alternating batches, so that other load hits both alike."""
    from django.contrib.auth import get_user_model
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from actions import executor
    from actions.models import Operation

    application = get_wsgi_application()  # sets logging up again
    quiet_app_logs()
    user = get_user_model().objects.get(username="bench")
    kinds = {"API key": KEY_OPERATION, "OAuth": OAUTH_OPERATION}
    queries = {}
    for label, operation_id in kinds.items():
        for _ in range(20):  # warm: the connection, Django's and jsonschema's caches
            wsgi_invoke(application, gpt_id, agent_token, operation_id)
        Timers.reset()
        with CaptureQueriesContext(connection) as captured:
            wsgi_invoke(application, gpt_id, agent_token, operation_id)
        round_trips = Timers.calls.get(SQL_LABEL, 0)
        operation = Operation.objects.select_related("action__gpt").get(operation_id=operation_id)
        with CaptureQueriesContext(connection) as in_executor:
            executor.invoke(operation=operation, arguments=dict(ARGUMENTS), user=user, client="b")
        queries[label] = {
            "view": len(captured.captured_queries),
            "round_trips": round_trips,
            "executor": len(in_executor.captured_queries),
            "sql": [shorten_sql(q["sql"]) for q in captured.captured_queries],
        }

    wait_for_quiet(quiet_timeout)
    spent = {label: dict.fromkeys((*TIMED, SQL_LABEL, "total"), 0.0) for label in kinds}
    batch = 20
    for _ in range(max(1, count // batch)):
        for label, operation_id in kinds.items():
            Timers.reset()
            started = time.perf_counter()
            for _ in range(batch):
                wsgi_invoke(application, gpt_id, agent_token, operation_id)
            spent[label]["total"] += time.perf_counter() - started
            for name in (*TIMED, SQL_LABEL):
                spent[label][name] += Timers.spent.get(name, 0.0)
    done = max(1, count // batch) * batch
    timings = {}
    for label, seconds in spent.items():
        parts = {name: seconds[name] * 1000 / done for name in (*TIMED, SQL_LABEL)}
        total_ms = seconds["total"] * 1000 / done
        parts["rest: Django, middleware, JSON, body checks"] = total_ms - sum(
            parts[name] for name in TIMED
        )
        timings[label] = {"total_ms": total_ms, "parts": parts}
    return queries, timings


def shorten_sql(sql: str) -> str:
    sql = re.sub(r'"[a-z0-9_]+"\.', "", sql).replace('"', "")
    select = re.match(r"SELECT .*? FROM (\S+)(.*?)( WHERE .*?)?( ORDER BY| LIMIT|$)", sql)
    if select:
        joins = " + ".join(re.findall(r"JOIN (\S+)", select.group(2)))
        where = re.sub(r"'[^']*'|%s|\b\d+\b", "?", (select.group(3) or "").strip())
        return f"SELECT {select.group(1)}{' JOIN ' + joins if joins else ''} {where[:90]}".strip()
    insert = re.match(r"INSERT INTO (\S+)", sql)
    return f"INSERT INTO {insert.group(1)}" if insert else sql[:100]


# --- the refresh storm -------------------------------------------------------------------


class LockWaiters(threading.Thread):
    """Samples, every 10 ms, how many backends of the bench database wait on a lock: during a
    storm that is the workers queued on the connection's row lock (select_for_update)."""

    def __init__(self, db_url: str, db_name: str):
        super().__init__(daemon=True)
        self.db_url, self.db_name = db_url, db_name
        self.most, self.stop = 0, threading.Event()

    def run(self) -> None:
        import psycopg

        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
        )
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while not self.stop.is_set() and time.monotonic() < deadline:
                count = conn.execute(sql, (self.db_name,)).fetchone()[0]
                self.most = max(self.most, count)
                time.sleep(0.01)


def refresh_storm(app_port: int, upstream: Upstream, data: dict, size: int) -> dict:
    from django.conf import settings
    from django.db import connection as db
    from django.utils import timezone

    from actions.models import Connection

    connection = Connection.objects.get(pk=data["connection_id"])
    stale = "expired-" + secrets.token_urlsafe(16)  # the upstream never accepted this one
    connection.access_token = stale
    connection.expires_at = timezone.now() - timedelta(minutes=5)
    connection.save()
    before = upstream.settled()

    path = f"/api/v1/gpts/{data['gpt_id']}/invoke"
    body = invoke_body(OAUTH_OPERATION).encode()
    headers = {"Authorization": f"Bearer {data['agent_token']}", "Content-Type": "application/json"}
    barrier = threading.Barrier(size, timeout=30)
    results: list = [None] * size

    def one(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", app_port, timeout=60)
        try:
            conn.connect()
            barrier.wait()
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            results[i] = (response.status, payload, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - reported as a failed call
            results[i] = (0, repr(exc).encode(), 0.0)
        finally:
            conn.close()

    db_url = os.environ["DATABASE_URL"]
    waiters = LockWaiters(db_url, settings.DATABASES["default"]["NAME"] or db.settings_dict["NAME"])
    waiters.start()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    waiters.stop.set()
    waiters.join(timeout=10)
    after = upstream.settled()
    counts = delta(after, before)
    connection.refresh_from_db()

    answered = [r for r in results if r is not None]
    ok = [r for r in answered if r[0] == 200 and json.loads(r[1]).get("status") == 200]
    failures = [r[:2] for r in answered if r not in ok][:3]
    stored_token = connection.access_token
    outcome = {
        "invokes": size,
        "ok": len(ok),
        "token_requests": counts["token_requests"],
        "api_bearer_ok": counts["api_bearer_ok"],
        "api_denied": counts["api_denied"],
        "rotated_refresh_token_kept": connection.refresh_token == after["refresh_token"],
        "new_expiry_min": round((connection.expires_at - timezone.now()).total_seconds() / 60),
        "p50_ms": statistics.median(r[2] for r in ok) * 1000 if ok else 0.0,
        "max_ms": max((r[2] for r in ok), default=0.0) * 1000,
        "max_lock_waiters": waiters.most,
    }
    check(len(answered) == size, f"storm: {size - len(answered)} calls did not finish in time")
    check(not failures, f"storm: failed calls, e.g. {failures}")
    check(outcome["token_requests"] == 1, f"storm: {counts['token_requests']} token requests")
    check(outcome["api_bearer_ok"] == size and outcome["api_denied"] == 0, f"storm: {counts}")
    check(outcome["rotated_refresh_token_kept"], "storm: the rotated refresh token was lost")
    check(stored_token != stale and connection.status == "active", "storm: connection not live")
    return outcome


# --- the run ------------------------------------------------------------------------------


def app_env(db_url: str, app_port: int) -> dict:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "ACTIONS_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "ACTIONS_ALLOW_PRIVATE_NETWORKS": "true",
            "DATABASE_URL": db_url,
            "SITE_URL": f"http://127.0.0.1:{app_port}",
            # Production settings that would get in the way of plain-HTTP local serving, and
            # the per-user rate limit (120/minute by default; all load here is one user).
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "ACTIONS_RATE_LIMIT_INVOKE": "off",
            "ACTIONS_RATE_LIMIT_SIGN_IN": "off",
        }
    )
    return env


def gunicorn_command(port: int) -> list[str]:
    """`make serve`'s gunicorn (config/gunicorn.conf.py: access log, worker recycling) when the
    checkout has it, with 4 workers on our port; else the same on the command line."""
    conf = ROOT / "config" / "gunicorn.conf.py"
    options = ["--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"]
    if conf.exists():
        # No worker recycling while measuring (max_requests): a restart lands in a random cell;
        # its cost is measured apart (worker_boot_cpu).
        return [GUNICORN, "-c", str(conf), *options, "--max-requests", "0"]
    return [GUNICORN, "config.wsgi", *options, "--timeout", "60", "--log-level", "warning"]


def worker_boot_cpu(env: dict) -> float:
    """CPU seconds a fresh worker spends before it can answer: importing the WSGI app and the
    URLconf (what a gunicorn worker does after fork, without preload_app)."""
    code = (
        "import config.wsgi\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "import actions.api, actions.executor, actions.oauth, jsonschema\n"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    booted = subprocess.run(
        [PYTHON, "-W", "ignore", "-c", code], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    check(booted.returncode == 0, f"importing the app failed: {booted.stderr[-2000:]!r}")
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def sanity(app_port: int, upstream: Upstream, data: dict) -> None:
    headers = {"Authorization": f"Bearer {data['agent_token']}", "Content-Type": "application/json"}
    path = f"/api/v1/gpts/{data['gpt_id']}/invoke"
    status, _, body = http_call(
        app_port, "GET", f"/api/v1/gpts/{data['gpt_id']}/tools", headers=headers
    )
    check(
        status == 200,
        f"GET tools answered {status}: {body[:300]!r} (an https redirect? see settings)",
    )
    for operation, counter in ((KEY_OPERATION, "api_key_ok"), (OAUTH_OPERATION, "api_bearer_ok")):
        before = upstream.stats()
        status, _, body = http_call(
            app_port, "POST", path, body=invoke_body(operation), headers=headers
        )
        check(status == 200, f"invoke {operation} answered {status}: {body[:300]!r}")
        answer = json.loads(body)
        check(answer["status"] == 200, f"invoke {operation}: the upstream answered {answer}")
        check(answer["body"]["id"] == "42", f"invoke {operation}: unexpected body {answer}")
        counts = delta(upstream.stats(), before)
        check(counts[counter] == 1 and counts["api_denied"] == 0, f"credentials: {counts}")


def cell(args, wrk: str, upstream: Upstream, meter: CpuMeter, name: str, level: int, target):
    """One target at one concurrency: wrk's numbers, the upstream's counters and CPU used."""
    url, script, counter = target
    upstream.settled()
    waited = time.monotonic()
    load = wait_for_quiet(args.quiet_timeout)
    waited = time.monotonic() - waited
    if waited > 1.5:
        log(f"waited {waited:.0f} s for other work to calm down (now {load:.2f} cores)")
    loop_before = reference_loop_ms()
    stats_before, cpu_before = upstream.settled(), meter.read()
    workers_before = meter.workers()
    meter.heartbeat.take()
    result = run_wrk(wrk, url, script, connections=level, seconds=args.duration)
    result["stall_ms"] = meter.heartbeat.take() * 1000
    counts = delta(upstream.settled(), stats_before)  # the backlog served, then CPU
    cpu_after = meter.read()
    result.update(target=name, concurrency=level, upstream=counts)
    result["loop_ms"] = (loop_before + reference_loop_ms()) / 2
    result["worker_restarts"] = len(meter.workers() - workers_before)
    spent = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    machine = spent.pop("machine")
    result["cpu_ms"] = {k: v * 1000 / max(result["requests"], 1) for k, v in spent.items()}
    seconds = result["duration_us"] / 1e6
    result["cpu_busy"] = sum(spent.values()) / seconds
    # Busy CPU outside the measured processes: other work on the machine (someone's tests),
    # this script, the kernel's share of loopback networking.
    result["other_busy"] = max(0.0, machine - sum(spent.values())) / seconds
    p50, p99 = result["p50"] / 1000, result["p99"] / 1000
    log(
        f"{name:22} c={level:<3} {result['rps']:8.0f} req/s  p50 {p50:7.2f} ms"
        f"  p99 {p99:7.2f} ms  errors {result['errors']}"
    )
    check(result["errors"] == 0, f"{name} c={level}: wrk counted errors {result}")
    # Every request wrk sent reached the upstream with the right credentials (wrk may stop
    # with up to `level` requests in flight, which it does not count).
    check(counts["api_denied"] == 0, f"{name} c={level}: the upstream refused {counts}")
    check(
        result["requests"] <= counts[counter] <= result["requests"] + level,
        f"{name} c={level}: wrk counted {result['requests']}, upstream {counts}",
    )
    return result


def measure(args, wrk: str, app_port: int, upstream: Upstream, meter: CpuMeter, data, tmp: Path):
    invoke_url = f"http://127.0.0.1:{app_port}/api/v1/gpts/{data['gpt_id']}/invoke"
    agent = {"Authorization": f"Bearer {data['agent_token']}", "Content-Type": "application/json"}
    targets = {
        "direct": (
            f"http://127.0.0.1:{upstream.port}{UPSTREAM_PATH}",
            lua_script(tmp / "direct.lua", method="GET", headers={"X-Api-Key": args.api_key}),
            "api_key_ok",
        ),
        "API key": (
            invoke_url,
            lua_script(
                tmp / "key.lua", method="POST", headers=agent, body=invoke_body(KEY_OPERATION)
            ),
            "api_key_ok",
        ),
        "OAuth": (
            invoke_url,
            lua_script(
                tmp / "oauth.lua", method="POST", headers=agent, body=invoke_body(OAUTH_OPERATION)
            ),
            "api_bearer_ok",
        ),
    }
    log("warming up the workers (1 s per target, not recorded)")
    for name in ("API key", "OAuth"):
        url, script, _ = targets[name]
        run_wrk(wrk, url, script, connections=WORKERS, seconds=1)
    rows = [
        cell(args, wrk, upstream, meter, name, level, targets[name])
        for level in args.levels
        for name in targets
    ]
    if args.slow_ms:
        host = f"slow.localhost:{upstream.port}"
        direct_headers = {"X-Api-Key": args.api_key, "Host": host}
        slow_targets = {
            "direct, slow upstream": (
                f"http://127.0.0.1:{upstream.port}{UPSTREAM_PATH}",
                lua_script(tmp / "slow-direct.lua", method="GET", headers=direct_headers),
                "api_key_ok",
            ),
            "API key, slow upstream": (
                invoke_url,
                lua_script(
                    tmp / "slow.lua", method="POST", headers=agent, body=invoke_body(SLOW_OPERATION)
                ),
                "api_key_ok",
            ),
        }
        level = max(args.levels)
        rows += [cell(args, wrk, upstream, meter, n, level, t) for n, t in slow_targets.items()]
    return rows


def table(header: list[str], rows: list[list], align: str = "") -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if a == "l" else "--:" for a in align.ljust(len(header), "r")) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")


def report(info: dict, rows: list, queries: dict, timings: dict, storms: list, args) -> None:
    print(f"\n## Results ({info['date']})\n")
    print(
        f"Machine: {info['nproc']} cores ({info['cpu']}), {info['memory']}; Linux "
        f"{info['kernel']}; Python {info['python']}; {info['postgres']}; {info['wrk']}; "
        f"gunicorn {info['gunicorn']} ({info['gunicorn_mode']}). {args.duration:g} s per cell.\n"
    )
    direct = {
        ("slow" in r["target"], r["concurrency"]): r
        for r in rows
        if r["target"].startswith("direct")
    }
    lines = []
    for r in rows:
        cpu = r["cpu_ms"]
        through = not r["target"].startswith("direct")
        base = direct[("slow" in r["target"], r["concurrency"])]
        lines.append(
            [
                r["target"],
                r["concurrency"],
                r["requests"],
                f"{r['rps']:.0f}",
                f"{r['p50'] / 1000:.2f}",
                f"{r['p99'] / 1000:.2f}",
                f"{r['rps'] / base['rps']:.4f}" if through else "1",
                f"{cpu['app']:.2f} / {cpu['pg']:.2f} / {cpu['upstream']:.3f} / {cpu['client']:.3f}",
                f"{r['cpu_busy']:.2f}",
                f"{r['other_busy']:.2f}",
                f"{r['stall_ms']:.0f}",
                f"{r['loop_ms']:.1f}",
                r["upstream"]["connections"],
            ]
        )
    table(
        [
            "target",
            "conc.",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "req/s through app / direct",
            "CPU ms/request: app / PG / upstream / wrk",
            "CPU busy, these processes (of 2)",
            "CPU busy, other",
            "longest stall ms",
            "ref. loop ms",
            "new upstream conns",
        ],
        lines,
        "lrrrrrrlrrrrr",
    )
    noisy = [r for r in rows if r["other_busy"] > 0.25 or r["stall_ms"] > 100]
    if noisy:
        print(
            f"\nWARNING: {len(noisy)} cell(s) ran while something else used over 0.25 core or "
            "the machine stalled over 100 ms (see 'CPU busy, other' and 'longest stall'): "
            "their numbers are disturbed; run again on a quiet machine."
        )
    restarts = sum(r["worker_restarts"] for r in rows)
    boot = info["worker_boot_cpu"]
    print(
        f"\nWorker restarts during the cells: {restarts}. Importing the app and URLconf costs "
        f"{boot:.2f} s CPU; gunicorn.conf.py preloads it in the master, so a recycled worker "
        "(every 2000 requests) forks without paying it again."
    )

    print(
        "\n### SQL per invoke (in-process: Django's WSGI handler on the same PostgreSQL database)\n"
    )
    table(
        ["action", "queries, whole request", "of which in executor.invoke", "round trips to PG"],
        [[k, q["view"], q["executor"], q["round_trips"]] for k, q in queries.items()],
        "l",
    )
    for label, q in queries.items():
        print(f"\n{label}:")
        for i, sql in enumerate(q["sql"], 1):
            print(f"  {i}. {sql}")

    print(
        f"\n### Where an invoke's time goes (in-process, one thread, ms per invoke, mean of "
        f"{args.profile_invokes}, in alternating batches of 20)\n"
    )
    labels = list(timings)
    parts = list(next(iter(timings.values()))["parts"])
    body = [["whole request (WSGI handler)", *(f"{timings[x]['total_ms']:.2f}" for x in labels)]]
    body += [[p, *(f"{timings[x]['parts'][p]:.2f}" for x in labels)] for p in parts]
    table(["part", *labels], body, "l")

    print("\n### Refresh storm (expired OAuth connection, concurrent invokes through gunicorn)\n")
    table(
        [
            "round",
            "invokes",
            "answered 200",
            "token requests",
            "API calls with the new token",
            "refused by upstream",
            "rotated refresh token stored",
            "max workers waiting on the row lock",
            "p50 ms",
            "max ms",
        ],
        [
            [
                i,
                s["invokes"],
                s["ok"],
                s["token_requests"],
                s["api_bearer_ok"],
                s["api_denied"],
                "yes" if s["rotated_refresh_token_kept"] else "NO",
                s["max_lock_waiters"],
                f"{s['p50_ms']:.0f}",
                f"{s['max_ms']:.0f}",
            ]
            for i, s in enumerate(storms, 1)
        ],
    )
    print()


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description="End-to-end benchmark of the agent API.")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell (5)")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels (1,8,32)")
    parser.add_argument("--storm", type=int, default=50, help="concurrent invokes per storm")
    parser.add_argument("--storm-rounds", type=int, default=3)
    parser.add_argument("--profile-invokes", type=int, default=200)
    parser.add_argument(
        "--slow-ms",
        type=float,
        default=100.0,
        help="also measure, at the highest concurrency, an upstream this slow (0: skip)",
    )
    parser.add_argument(
        "--quiet-timeout",
        type=float,
        default=15.0,
        help="before each cell, wait up to this long for other load to drop below 0.3 core",
    )
    parser.add_argument("--db-name", default="afarensis_bench")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--app-dir", type=Path, help="serve another checkout (e.g. a git archive)")
    args = parser.parse_args()
    if args.app_dir:
        global ROOT
        ROOT = args.app_dir.resolve()
        check((ROOT / "config" / "wsgi.py").exists(), f"{ROOT} is not a checkout of the app")
    args.levels = [int(x) for x in args.levels.split(",")]
    check(all(1 <= x <= 256 for x in args.levels), "levels must be 1..256")
    check(1 <= args.storm <= 200 and 1 <= args.storm_rounds <= 10, "storm size/rounds out of range")
    check(0.5 <= args.duration <= 60, "duration must be 0.5..60 s")
    check(0 <= args.quiet_timeout <= 120, "quiet-timeout must be 0..120 s")
    check(0 <= args.slow_ms <= 2000, "slow-ms must be 0..2000")

    pg_match = re.match(r"postgres(?:ql)?://([^@/]+)@([^:/]+):(\d+)/?$", args.pg)
    check(pg_match is not None, "--pg must look like postgres://user@host:port")
    pg = dict(zip(("user", "host", "port"), pg_match.groups(), strict=True))
    db_url = f"{args.pg.rstrip('/')}/{args.db_name}"

    wrk = ensure_wrk()
    info = machine()
    processes = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="afarensis-bench-"))
    created_db = False
    # SIGTERM and SIGINT (even when inherited as ignored, e.g. started with `&`) unwind
    # through `finally`, which stops everything started here.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    try:
        started = time.monotonic()
        log(f"fresh database {args.db_name}")
        fresh_database(pg, args.db_name)
        created_db = True
        info["postgres"] = "PostgreSQL " + psql(pg, "SHOW server_version").split()[0]
        conf = ROOT / "config" / "gunicorn.conf.py"
        info["gunicorn_mode"] = (
            f"{WORKERS} sync workers, -c config/gunicorn.conf.py as `make serve`, "
            "but --max-requests 0"
            if conf.exists()
            else f"{WORKERS} sync workers, config.wsgi"
        )
        info["gunicorn"] = (
            subprocess.run([GUNICORN, "--version"], capture_output=True, text=True, timeout=30)
            .stdout.split()[-1]
            .strip("()")
        )

        app_port, upstream_port = free_port(), free_port()
        env = app_env(db_url, app_port)
        os.environ.update(env)
        log("migrate")
        migrate = subprocess.run(
            [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        check(migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}{migrate.stderr}")

        creds = {
            "api_key": secrets.token_urlsafe(24),
            "client_id": "bench-client",
            "client_secret": secrets.token_urlsafe(24),
            "access_token": secrets.token_urlsafe(24),
            "refresh_token": secrets.token_urlsafe(24),
        }
        args.api_key = creds["api_key"]
        upstream_log = tmp / "upstream.log"
        upstream_cmd = [PYTHON, str(BENCH / "upstream.py"), f"--port={upstream_port}"]
        upstream_cmd.append(f"--slow-ms={args.slow_ms}")
        for name, value in creds.items():
            upstream_cmd.append(f"--{name.replace('_', '-')}={value}")  # a value may start with -
        upstream_proc = processes.start("upstream", upstream_cmd, env=env, log_path=upstream_log)
        wait_for_port(upstream_port, upstream_proc, "upstream", upstream_log)
        upstream = Upstream(upstream_port)

        import django

        sys.path.insert(0, str(ROOT))
        django.setup()
        quiet_app_logs()
        warnings.filterwarnings("ignore", message="No directory at")  # whitenoise, no static
        install_meters()
        data = create_data(creds, upstream_port)

        log(f"gunicorn, {WORKERS} workers, on 127.0.0.1:{app_port}; upstream on {upstream_port}")
        app_log = tmp / "gunicorn.log"
        gunicorn = processes.start(
            "gunicorn", gunicorn_command(app_port), env=env, log_path=app_log
        )
        wait_for_port(app_port, gunicorn, "gunicorn", app_log)
        pg_meter = PgBackends(args.db_name)
        pg_meter.start()
        try:
            sanity(app_port, upstream, data)
            rows = measure(
                args,
                wrk,
                app_port,
                upstream,
                CpuMeter(gunicorn.pid, upstream_proc.pid, pg_meter),
                data,
                tmp,
            )
            log("refresh storms")
            storms = [
                refresh_storm(app_port, upstream, data, args.storm)
                for _ in range(args.storm_rounds)
            ]
        except BenchFailed:
            print(f"--- gunicorn log (last lines) ---\n{tail(app_log)}", file=sys.stderr)
            raise
        finally:
            pg_meter.stop.set()
        processes.stop("gunicorn")  # the in-process measurements below need only the upstream
        info["worker_boot_cpu"] = statistics.median(worker_boot_cpu(env) for _ in range(3))
        log("queries per invoke and where the time goes (in-process)")
        queries, timings = in_process(
            data["gpt_id"], data["agent_token"], args.profile_invokes, args.quiet_timeout
        )
        report(info, rows, queries, timings, storms, args)
        if args.json:
            args.json.write_text(
                json.dumps(
                    {
                        "machine": info,
                        "rows": rows,
                        "queries": queries,
                        "timings": timings,
                        "storms": storms,
                    },
                    indent=2,
                    default=str,
                )
            )
        log(f"done in {time.monotonic() - started:.0f} s")
        return 0
    except BenchFailed as exc:
        print(f"\nBENCH FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nBENCH INTERRUPTED: stopping what it started", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        if created_db and not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:  # noqa: BLE001, S110 - Django may not be set up yet
                pass
            psql(pg, f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

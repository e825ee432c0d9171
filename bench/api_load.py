"""Benchmark: the API under load, next to a bare aiohttp handler on the same machine.

Seeds a fresh database (users with credits and credit history, strategies, templates to clone),
starts `gr8d api` in a process of its own, and drives it from another process with an aiohttp
client holding many connections: authenticated GET /api/v1/strategies, GET
/api/v1/credits/transactions and POST /api/v1/templates/{id}/clone (a fresh Idempotency-Key per
request). Each is printed with requests/s and p50/p99 latency, next to a bare aiohttp handler
returning a constant JSON body, measured in the same run (this machine's ceiling for the
framework and the client), and each read's data floor (the bare handler's process doing only
what api.md makes any implementation of the read do: see FLOOR_QUERIES), the ratio to the bare
handler, and the server's CPU time per request (the figure that
noise from other work on the machine disturbs least). The API is measured with its access log
at INFO (a structlog line per request) and at WARNING, with one process and with each number
of `--workers` asked for (gr8d api --workers N: N processes on one port).

    ./dev bench api_load [--seconds 10 --connections 64 --rounds 1 --workers 1 2]

Uses DATABASE_URL's and REDIS_URL's servers when set, else embedded ones. The database it
creates is dropped at the end. Target on 2 cores: reads >= 2,000 requests/s with p99 < 50 ms,
and >= 1/3 of the bare handler's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pstats
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO

import aiohttp
import asyncpg
import jwt
from aiohttp import web
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from sqlalchemy import text

from accounts.tokens import issue_access_token
from db import admin, migrate
from db.engine import create_engine
from gr8d.config import Settings, load_settings
from gr8d.embedded import servers_for

API = "/api/v1"
# The API's own rate limit is per client IP, and every request here comes from 127.0.0.1.
UNLIMITED = 1_000_000_000
WARM_UP_SECONDS = 1.5
REQUEST_TIMEOUT_SECONDS = 30
READS_TARGET_RPS = 2_000
READS_TARGET_P99_MS = 50
BARE_BODY = {"status": "ok", "items": [], "total": 0}
SCENARIOS = {
    "strategies": "GET /strategies",
    "transactions": "GET /credits/transactions",
    "clone": "POST /templates/{id}/clone",
}

SEED = """
INSERT INTO users (email, hashed_password, full_name)
SELECT 'bench-' || n || '@example.com', 'not-a-hash', 'Bench user ' || n
FROM generate_series(1, CAST(:users AS int) + CAST(:authors AS int)) AS n;

CREATE TEMP TABLE numbered_users AS
SELECT id, row_number() OVER (ORDER BY email) AS n FROM users;

INSERT INTO credit_transactions (user_id, amount, balance_after, type, description)
SELECT u.id, 1000, 1000 * k, 'PURCHASE', 'bench purchase ' || k
FROM numbered_users AS u CROSS JOIN generate_series(1, :transactions) AS k;

UPDATE credits SET balance = 1000 * CAST(:transactions AS int);

INSERT INTO strategies (user_id, name, description, definition, is_public)
SELECT u.id, 'strategy ' || s, 'seeded for the benchmark', CAST(:definition AS jsonb), s % 2 = 0
FROM numbered_users AS u CROSS JOIN generate_series(1, :strategies) AS s;

INSERT INTO templates (strategy_id, author_id, name, description, price_credits)
SELECT DISTINCT ON (s.user_id) s.id, s.user_id, 'template of ' || u.n, 'bench template', 1
FROM strategies AS s JOIN numbered_users AS u ON u.id = s.user_id
WHERE u.n > :users
ORDER BY s.user_id, s.id;

ANALYZE;
"""

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "trigger", "config": {"interval": "1h"}},
        {"id": "rsi", "type": "indicator", "config": {"name": "RSI", "period": 14}},
        {"id": "buy", "type": "action", "config": {"side": "BUY", "amount": "0.01"}},
    ],
    "edges": [
        {"from_node": "start", "to_node": "rsi"},
        {"from_node": "rsi", "to_node": "buy", "condition": "rsi < 30"},
    ],
}


@dataclass(frozen=True)
class Load:
    """What the driving process is told (as JSON on its command line)."""

    base_url: str
    scenario: str
    seconds: float
    connections: int
    tokens: list[str]
    templates: list[str]


@dataclass(frozen=True)
class Figures:
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


# -- the bare handler (its own process) ------------------------------------------------------


def serve_bare(port: int) -> None:
    """The constant handler at /bare and, when DATABASE_URL and REDIS_URL are set, the data
    floors at /floor/strategies and /floor/transactions."""
    body = json.dumps(BARE_BODY)

    async def constant(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/bare", constant)
    settings = load_settings()
    if settings.database_url and settings.redis_url:
        app.cleanup_ctx.append(_floor_resources(settings.database_url, settings.redis_url))
        for name, query in FLOOR_QUERIES.items():
            app.router.add_get(f"/floor/{name}", _floor_handler(query, settings))
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# -- the data floors (in the bare handler's process) -------------------------------------------
#
# What any implementation of the two reads has to do per request under api.md, with nothing of
# gr8d's: check the bearer token's signature (PyJWT), count the caller's request and look up the
# token's blacklist key in one Redis round trip (rate limits and logout), read the page, its
# total and the caller's active flag in one asyncpg query, and write the JSON. No validation
# models, no ORM, no middlewares, no logging: the rate of these is the ceiling for such a route
# on this machine, whatever code serves it.

FLOOR_QUERIES = {
    "strategies": """
        SELECT s.id, s.user_id, s.name, s.description, s.status, s.is_public, s.created_at,
               s.updated_at, count(*) OVER () AS total
        FROM strategies AS s
        WHERE s.user_id = $1 AND EXISTS (SELECT FROM users WHERE id = $1 AND is_active)
        ORDER BY s.created_at DESC, s.id DESC
        LIMIT 20
    """,
    "transactions": """
        SELECT t.id, t.amount, t.balance_after, t.type, t.reference_id, t.description,
               t.created_at, count(*) OVER () AS total
        FROM credit_transactions AS t
        WHERE t.user_id = $1 AND EXISTS (SELECT FROM users WHERE id = $1 AND is_active)
        ORDER BY t.created_at DESC, t.seq DESC
        LIMIT 20
    """,
}
FLOOR_ADMIT = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 60, 'NX')
return redis.call('EXISTS', KEYS[2])
"""
FLOOR_POOL = web.AppKey("floor_pool", asyncpg.Pool)
FLOOR_REDIS = web.AppKey("floor_redis", Redis)
FLOOR_ADMIT_SCRIPT = web.AppKey("floor_admit", AsyncScript)


def _floor_resources(
    database_url: str, redis_url: str
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def open_and_close(app: web.Application) -> AsyncIterator[None]:
        dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        async with asyncpg.create_pool(dsn, min_size=10, max_size=10) as pool:
            app[FLOOR_POOL] = pool
            app[FLOOR_REDIS] = Redis.from_url(redis_url)
            app[FLOOR_ADMIT_SCRIPT] = app[FLOOR_REDIS].register_script(FLOOR_ADMIT)
            try:
                yield
            finally:
                await app[FLOOR_REDIS].aclose()

    return open_and_close


def _floor_handler(
    query: str, settings: Settings
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def page(request: web.Request) -> web.Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        claims = jwt.decode(
            token, settings.jwt_secret_key, algorithms=["HS256"], issuer=settings.jwt_issuer
        )
        admit = request.app[FLOOR_ADMIT_SCRIPT]
        if await admit(keys=[f"rate_limit:{request.remote}:floor", f"blacklist:{token}"]):
            raise web.HTTPUnauthorized()
        rows = await request.app[FLOOR_POOL].fetch(query, uuid.UUID(claims["sub"]))
        items = [
            {key: _json_value(value) for key, value in row.items() if key != "total"}
            for row in rows
        ]
        total = rows[0]["total"] if rows else 0
        body = {"items": items, "total": total, "page": 1, "size": 20, "pages": -(-total // 20)}
        return web.Response(text=json.dumps(body), content_type="application/json")

    return page


def _json_value(value: object) -> object:
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


# -- the driver (its own process) ------------------------------------------------------------


def _request(load: Load, number: int) -> tuple[str, str, dict[str, str]]:
    token = load.tokens[number % len(load.tokens)]
    headers = {"Authorization": f"Bearer {token}"}
    if load.scenario == "bare":
        return "GET", "/bare", {}
    if load.scenario.startswith("floor/"):
        return "GET", f"/{load.scenario}", headers
    if load.scenario == "strategies":
        return "GET", f"{API}/strategies", headers
    if load.scenario == "transactions":
        return "GET", f"{API}/credits/transactions", headers
    if load.scenario == "clone":
        template = load.templates[number % len(load.templates)]
        headers["Idempotency-Key"] = uuid.uuid4().hex
        return "POST", f"{API}/templates/{template}/clone", headers
    raise ValueError(f"unknown scenario {load.scenario}")


async def _worker(
    session: aiohttp.ClientSession,
    load: Load,
    worker: int,
    measure_from: float,
    until: float,
    latencies: list[float],
    statuses: Counter[str],
) -> None:
    number = worker
    while (started := time.perf_counter()) < until:
        method, path, headers = _request(load, number)
        number += load.connections
        async with session.request(method, load.base_url + path, headers=headers) as response:
            await response.read()
        if started >= measure_from:
            latencies.append(time.perf_counter() - started)
            statuses[str(response.status)] += 1


async def drive(load: Load) -> Figures:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=load.connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        begun = time.perf_counter()
        measure_from = begun + WARM_UP_SECONDS
        until = measure_from + load.seconds
        await asyncio.gather(
            *(
                _worker(session, load, worker, measure_from, until, latencies, statuses)
                for worker in range(load.connections)
            )
        )
        measured = time.perf_counter() - measure_from
    latencies.sort()
    return Figures(
        scenario=load.scenario,
        requests=len(latencies),
        seconds=measured,
        p50_ms=1000 * statistics.median(latencies),
        p99_ms=1000 * latencies[int(0.99 * (len(latencies) - 1))],
        statuses=dict(statuses),
    )


# -- the conductor -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def seed(database_url: str, *, users: int, authors: int) -> None:
    settings = load_settings(database_url=database_url, database_pool_size=2)
    engine = create_engine(settings)
    values = {
        "users": users,
        "authors": authors,
        "transactions": 60,
        "strategies": 30,
        "definition": json.dumps(DEFINITION),
    }
    try:
        async with engine.begin() as connection:
            for statement in filter(str.strip, SEED.split(";")):
                await connection.execute(text(statement), values if ":" in statement else {})
    finally:
        await engine.dispose()


async def seeded_ids(database_url: str, *, users: int) -> tuple[list[str], list[str]]:
    """The user ids that drive the load (not the authors) and the template ids."""
    settings = load_settings(database_url=database_url, database_pool_size=1)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            user_ids = (
                await connection.execute(
                    text(
                        "SELECT u.id FROM users AS u LEFT JOIN templates AS t "
                        "ON t.author_id = u.id WHERE t.id IS NULL ORDER BY u.email LIMIT :n"
                    ),
                    {"n": users},
                )
            ).scalars()
            templates = (await connection.execute(text("SELECT id FROM templates"))).scalars()
            return [str(i) for i in user_ids], [str(i) for i in templates]
    finally:
        await engine.dispose()


@contextlib.contextmanager
def process(arguments: list[str], env: dict[str, str], ready_url: str) -> Iterator[int]:
    """A server process, ready once `ready_url` answers; its output (access logs included) goes
    to a file, read only if it fails to start: an unread pipe would fill and stall it."""
    with tempfile.TemporaryFile("w+") as output:
        server = subprocess.Popen(arguments, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_until_ready(server, ready_url, output)
            yield server.pid
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_until_ready(server: subprocess.Popen[bytes], url: str, output: IO[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output.seek(0)
            raise RuntimeError(
                f"the server stopped at start (exit {server.returncode}):\n{output.read()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within 60 s")


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (Linux; [] when it is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _on_cpu_seconds(pid: int) -> float:
    """Time the process has run so far, to the nanosecond (/proc/PID/schedstat; the clock ticks
    of /proc/PID/stat lose up to 10 ms per process, and a pool has dozens of backends)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time a process and its children (workers) have used so far."""
    return sum(_on_cpu_seconds(one) for one in (pid, *children_of(pid)))


def database_cpu_seconds(database: str) -> dict[int, float]:
    """CPU time so far of each PostgreSQL backend connected to `database` (on this machine)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(b"postgres:") and f" {database} ".encode() in command:
            found[int(entry.name)] = _on_cpu_seconds(int(entry.name))
    return found


def driver_cpu_seconds() -> float:
    """CPU time of this process's finished children (the drivers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Busy:
    """CPU seconds per second of each party while the driver ran."""

    server: float
    database: float
    driver: float


def run_measured(load: Load, server: int, database: str | None) -> tuple[Figures, Busy]:
    """The figures and how busy the server, the database's backends and the driver were."""
    backends = database_cpu_seconds(database) if database else {}
    server_before, driver_before = cpu_seconds(server), driver_cpu_seconds()
    began = time.perf_counter()
    figures = run_driver(load)
    elapsed = time.perf_counter() - began
    backends_after = database_cpu_seconds(database) if database else {}
    database_cpu = sum(used - backends.get(pid, 0.0) for pid, used in backends_after.items())
    busy = Busy(
        server=(cpu_seconds(server) - server_before) / elapsed,
        database=database_cpu / elapsed,
        driver=(driver_cpu_seconds() - driver_before) / elapsed,
    )
    return figures, busy


def run_driver(load: Load) -> Figures:
    # The load (a thousand tokens) goes through stdin: too long for one argument.
    finished = subprocess.run(
        [sys.executable, "-m", "bench.api_load", "--drive"],
        input=json.dumps(asdict(load)),
        capture_output=True,
        text=True,
    )
    if finished.returncode != 0:
        raise RuntimeError(f"the driver failed:\n{finished.stderr}")
    return Figures(**json.loads(finished.stdout))


def api_environment(database_url: str, redis_url: str, log_level: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "API_RATE_LIMIT_PER_MINUTE": str(UNLIMITED),
        "LOG_LEVEL": log_level,
        # Development's secrets, production's log lines (JSON, not the console's).
        "APP_ENV": "development",
        "LOG_FORMAT": "json",
    }


def report(figures: Figures, bare: Figures | None, label: str, busy: Busy) -> None:
    """One line: rate, latency, the share of the bare rate, then CPU per request of the
    server (and how busy it was), of PostgreSQL's backends and of the driving client."""

    def per_request(seconds_per_second: float) -> str:
        return f"{1e6 * seconds_per_second / figures.rate:5.0f}"

    ratio = "     " if bare is None else f"{figures.rate / bare.rate:5.2f}"
    wrong = {status: n for status, n in figures.statuses.items() if not status.startswith("2")}
    print(
        f"{label:<46} {figures.rate:6,.0f} {figures.p50_ms:6.1f} {figures.p99_ms:6.1f}  "
        f"{ratio}  {per_request(busy.server)} ({100 * busy.server:3.0f}%) "
        f"{per_request(busy.database)} {per_request(busy.driver)}"
        + (f"  NON-2XX {wrong}" if wrong else ""),
        flush=True,
    )


REPORT_HEADER = (
    f"{'':<46} {'req/s':>6} {'p50 ms':>6} {'p99 ms':>6}  {'/bare':>5}  "
    "CPU µs/req: server (busy) database driver"
)


def measure(
    arguments: argparse.Namespace,
    database: str,
    database_url: str,
    redis_url: str,
    users: list[str],
    templates: list[str],
) -> None:
    settings = load_settings()
    tokens = [
        issue_access_token(
            uuid.UUID(user), secret=settings.jwt_secret_key, issuer=settings.jwt_issuer
        )[0]
        for user in users
    ]
    bare_port, api_port = free_port(), free_port()
    python = sys.executable

    def load(scenario: str, port: int) -> Load:
        return Load(
            base_url=f"http://127.0.0.1:{port}",
            scenario=scenario,
            seconds=arguments.seconds,
            connections=arguments.connections,
            tokens=tokens,
            templates=templates,
        )

    bare_command = [python, "-m", "bench.api_load", "--serve-bare", str(bare_port)]
    api_command = [python, "-m", "gr8d", "api", "--host", "127.0.0.1", "--port", str(api_port)]
    # Several workers at the last log level asked for (WARNING by default).
    variants = [(level, 1) for level in arguments.log_levels] + [
        (arguments.log_levels[-1], workers) for workers in arguments.workers if workers > 1
    ]
    for round_number in range(1, arguments.rounds + 1):
        print(
            f"\nround {round_number} ({arguments.connections} connections, "
            f"{arguments.seconds:g} s each after {WARM_UP_SECONDS:g} s of warm-up)\n"
            + REPORT_HEADER
        )
        floors_env = api_environment(database_url, redis_url, "WARNING")
        with process(bare_command, floors_env, f"http://127.0.0.1:{bare_port}/bare") as pid:
            bare, busy = run_measured(load("bare", bare_port), pid, None)
            report(bare, None, "bare aiohttp handler", busy)
            for scenario in arguments.scenarios:
                if scenario in FLOOR_QUERIES:
                    floor, busy = run_measured(load(f"floor/{scenario}", bare_port), pid, database)
                    report(floor, bare, f"floor: {SCENARIOS[scenario]} (jwt+redis+asyncpg)", busy)
        for log_level, workers in variants:
            env = api_environment(database_url, redis_url, log_level)
            with tempfile.TemporaryDirectory() as folder:
                profile = Path(folder) / "api.prof"
                profiled = [python, "-m", "cProfile", "-o", str(profile), *api_command[1:]]
                command = profiled if arguments.profile and workers == 1 else api_command
                if workers > 1:
                    command = [*command, "--workers", str(workers)]
                with process(command, env, f"http://127.0.0.1:{api_port}/health") as pid:
                    if workers > 1:
                        _wait_for_workers(pid, workers, api_port)
                    for scenario in arguments.scenarios:
                        figures, busy = run_measured(load(scenario, api_port), pid, database)
                        label = f"{SCENARIOS[scenario]} [{log_level}" + (
                            f", {workers} workers]" if workers > 1 else "]"
                        )
                        report(figures, bare, label, busy)
                if arguments.profile and workers == 1:
                    print_profile(profile)


def _wait_for_workers(pid: int, workers: int, port: int) -> None:
    """Until every worker listens: the first one up would take all the connections."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sockets = _listening_sockets(port)
        if sum(_holds_any(child, sockets) for child in children_of(pid)) == workers:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{workers} workers did not all listen within 60 s")


def _listening_sockets(port: int) -> set[str]:
    """Inodes of the IPv4 sockets listening on `port` (/proc/net/tcp; state 0A is LISTEN)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            inodes.add(fields[9])
    return inodes


def _holds_any(pid: int, inodes: set[str]) -> bool:
    with contextlib.suppress(OSError):
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(descriptor).removeprefix("socket:[").rstrip("]") in inodes:
                    return True
    return False


def print_profile(path: Path) -> None:
    """Where the API process spent its time (cProfile: the figures above are slowed by it)."""
    stats = pstats.Stats(str(path))
    by_package: Counter[str] = Counter()
    for (filename, _, _), row in stats.stats.items():  # type: ignore[attr-defined]
        by_package[_package_of(filename)] += row[2]
    total = sum(by_package.values())
    print("own time by package (cProfile):")
    for package, seconds in by_package.most_common(15):
        print(f"  {package:<40} {seconds:7.2f} s  {100 * seconds / total:4.1f}%")
    stats.sort_stats("tottime").print_stats(40)


def _package_of(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    if "/lib/python3" in filename:
        return "stdlib " + filename.rsplit("/", 1)[-1]
    return filename.removeprefix(str(Path.cwd()) + "/")


async def prepare(database_url: str, arguments: argparse.Namespace) -> tuple[list[str], list[str]]:
    await asyncio.to_thread(migrate.upgrade, database_url)
    began = time.perf_counter()
    await seed(database_url, users=arguments.users, authors=arguments.templates)
    print(
        f"seeded {arguments.users:,} users (60 credit transactions, 30 strategies each) and "
        f"{arguments.templates} templates in {time.perf_counter() - began:.1f} s"
    )
    return await seeded_ids(database_url, users=arguments.users)


def conduct(arguments: argparse.Namespace) -> None:
    configured = load_settings(
        database_url=os.environ.get("DATABASE_URL"), redis_url=os.environ.get("REDIS_URL")
    )
    with (
        tempfile.TemporaryDirectory() as data_dir,
        servers_for(configured, Path(data_dir)) as urls,
    ):
        name = f"gr8d_bench_api_{os.getpid()}"
        database_url = asyncio.run(admin.create_database(urls.database_url, name))
        try:
            users, templates = asyncio.run(prepare(database_url, arguments))
            measure(arguments, name, database_url, urls.redis_url, users, templates)
        finally:
            asyncio.run(admin.drop_database(urls.database_url, name))
    print(
        f"\ntargets: reads >= {READS_TARGET_RPS:,} req/s with p99 < {READS_TARGET_P99_MS} ms, "
        "and >= 0.33 of the bare handler's rate"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per scenario")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole measurement")
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--templates", type=int, default=50)
    parser.add_argument(
        "--log-levels", nargs="+", default=["INFO", "WARNING"], choices=["INFO", "WARNING"]
    )
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="also measure gr8d api --workers N for each N > 1 (at the last log level)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the API under cProfile and print where it spent"
    )
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve_bare is not None:
        serve_bare(arguments.serve_bare)
    elif arguments.drive:
        figures = asyncio.run(drive(Load(**json.loads(sys.stdin.read()))))
        print(json.dumps(asdict(figures)))
    else:
        conduct(arguments)


if __name__ == "__main__":
    main()

"""What the capture benchmark and the flash sale share: throw-away PostgreSQL databases, a fast
seed that keeps the ledger balanced, the real server in a child process, a Zipf workload, the
load generators (HTTP, the capture service called directly, and a psycopg-only client) and the
oversell checks.

Hand-run only (``make bench``, ``make bench-flash``); never imported by the tests.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import http.client
import math
import multiprocessing as mp
import os
import platform
import queue
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine, make_url

from openoms.adapters.carriers.rate_csv import DEMO_RATES
from openoms.adapters.db import migrate
from openoms.adapters.db import stock as stock_db
from openoms.adapters.db.engine import Database
from openoms.adapters.db.tables import Product, StockLevel, table
from openoms.config import normalise_database_url
from openoms.domain.inventory import LedgerEntryType
from openoms.services import apikeys, catalog, demo, routing_setup
from openoms.services.check import run_check
from openoms.services.common import Actor

ADMIN_ENV = "OPENOMS_BENCH_DATABASE_URL"
DB_PREFIX = "openoms_bench_"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_ACTOR = Actor("bench")
CHANNEL = "web"
ORDERS_PATH = "/api/v1/orders"

console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


# --- throw-away databases -----------------------------------------------------------------


class PgAdmin:
    """Creates databases on the admin server and drops every one of them on ``close``."""

    def __init__(self, admin_url: str | None = None) -> None:
        self.admin_url = normalise_database_url(admin_url or os.environ.get(ADMIN_ENV) or DEFAULT_ADMIN_URL)
        self.engine: Engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with self.engine.connect() as conn:
            self.server_version = str(conn.execute(text("show server_version")).scalar_one())
        self.created: list[str] = []
        self.prefix = f"{DB_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.drop_stale()

    def drop_stale(self) -> None:
        """Drop what an earlier, killed benchmark left: ``openoms_bench_<pid>_*`` of a dead pid."""
        with self.engine.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": DB_PREFIX + "%"}
            ).scalars()
            stale = [n for n in names if not _pid_alive(int(n[len(DB_PREFIX) :].split("_", 1)[0] or 0))]
        for name in stale:
            console.print(f"[dim]dropping {name}, left by an earlier run that was killed[/]")
            self.drop(name)

    def url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create(self, suffix: str, template: str | None = None) -> tuple[str, str]:
        """A new database (a copy of ``template`` if given); returns (name, URL)."""
        name = f"{self.prefix}_{suffix}"
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        for attempt in range(50):
            try:
                with self.engine.connect() as conn:
                    conn.execute(text(sql))
                break
            except Exception as exc:  # autovacuum may be visiting the template for a moment
                if "being accessed by other users" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.2)
        self.created.append(name)
        return name, self.url(name)

    def drop(self, name: str) -> None:
        with self.engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(reversed(self.created)):
            try:
                self.drop(name)
            except Exception as exc:
                console.print(f"[red]could not drop {name}:[/] {exc}")
        self.engine.dispose()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so that servers stop and databases are dropped."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def warn_if_busy() -> None:
    """The figures are only worth quoting from an otherwise idle machine."""
    load, cpus = load_average(), os.cpu_count() or 1
    if load > 0.5 * cpus:
        console.print(
            f"[yellow]warning:[/] load average {load:.1f} on {cpus} CPU(s) before starting: something else is "
            "running, and the figures will be low and noisy"
        )


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return math.nan


def vacuum_analyze(url: str) -> None:
    """Fresh tables have no planner statistics; a live database would."""
    eng = create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    eng.dispose()


def new_database(admin: PgAdmin, suffix: str) -> tuple[str, str]:
    """Create and migrate an empty database; returns (name, URL)."""
    name, url = admin.create(suffix)
    db = Database(url, pool_size=2)
    try:
        migrate.upgrade(db)
    finally:
        db.dispose()
    return name, url


# --- seeding ------------------------------------------------------------------------------

LOCATION_SHARES = (0.40, 0.30, 0.20, 0.05, 0.05)  # of each SKU's stock, in network() order
LOCATION_GAP = 0.08  # chance that a SKU is missing at one location
OUT_OF_STOCK = 0.03  # share of SKUs (beyond the top 100) with no stock anywhere
STOCK_POOL = 200_000  # units shared out by popularity: the best sellers never run dry in a run
PRICES = tuple(Decimal(p) for p in ("9.90", "14.50", "24.00", "39.00", "59.00", "98.00", "129.00", "349.00"))


def sku_code(i: int) -> str:
    return f"BN-{i:05d}"


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank**s) for rank in range(1, n + 1)]


def popularity_order(n: int, seed: int) -> list[str]:
    """SKU codes from the best seller down: a seeded shuffle, so popular SKUs are spread over
    the id range as in a real catalogue (and lock order is not popularity order)."""
    codes = [sku_code(i) for i in range(n)]
    random.Random(seed).shuffle(codes)
    return codes


@dataclass(frozen=True)
class SeedInfo:
    skus: int
    locations: int
    stock_rows: int
    units: int
    seconds: float


def network() -> list[dict[str, Any]]:
    """The demo's first five shipping locations: the benchmark's network."""
    ships = [loc for loc in demo.LOCATIONS if loc.get("ships", True)][:5]
    if len(ships) < len(LOCATION_SHARES):
        raise RuntimeError(f"services.demo.LOCATIONS has {len(ships)} shipping locations; the benchmark needs 5")
    return ships


def seed_network(db: Database) -> None:
    """The demo's five shipping locations, its channels and the demo carrier rates of those
    locations, so that capture routes with the engine as production does."""
    with db.begin() as conn:
        catalog.LOCATIONS.upsert_many(conn, network())
        catalog.CHANNELS.upsert_many(conn, demo.CHANNELS)
    codes = {"*", *(loc["code"] for loc in network())}
    rows = DEMO_RATES.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [rows[0], *(r for r in rows[1:] if r.split(",", 1)[0] in codes)]
    routing_setup.load_rates(db, "".join(kept), "demo_rates.csv (bench network)", Actor("bench"))


def seed_catalogue(
    db: Database, n_skus: int, zipf_s: float, seed: int, progress: Callable[[str, int, int], None]
) -> SeedInfo:
    """``n_skus`` products with stock at the five locations, in bulk.

    Products and stock rows are multi-row INSERTs and every opening balance gets its
    ``receipt`` ledger row through ``stock.append_ledger``, so ``openoms check`` holds: the
    per-row path of ``services.inventory`` (lock, update, ledger, outbox per row) would take
    minutes for 50,000 rows.
    """
    started = time.perf_counter()
    rng = random.Random(seed)
    seed_network(db)
    products_t, stock_t = table(Product), table(StockLevel)
    now = dt.datetime.now(dt.UTC)
    chunk = 2_000
    with db.begin() as conn:
        loc_ids = catalog.LOCATIONS.ids_by_key(conn, [loc["code"] for loc in network()])
    locs = [loc_ids[loc["code"]] for loc in network()]
    codes = [sku_code(i) for i in range(n_skus)]
    for start in range(0, n_skus, chunk):
        rows = [
            {
                "sku": code,
                "name": f"Bench product {code}",
                "weight_grams": rng.randint(50, 3_000),
                "list_price": rng.choice(PRICES),
                "currency": "USD",
                "hazmat": False,
                "high_value": False,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for code in codes[start : start + chunk]
        ]
        with db.begin() as conn:
            conn.execute(insert(products_t), rows)
        progress("products", min(start + chunk, n_skus), n_skus)
    with db.read() as conn:
        ids = dict(conn.execute(select(products_t.c.sku, products_t.c.id)).all())
    weights = zipf_weights(n_skus, zipf_s)
    total_w = sum(weights)
    by_rank = popularity_order(n_skus, seed)
    stock: list[tuple[int, int, int]] = []
    for rank, code in enumerate(by_rank):
        if rank >= 100 and rng.random() < OUT_OF_STOCK:
            continue
        units = max(int(STOCK_POOL * weights[rank] / total_w), rng.randint(5, 60))
        for loc, share in zip(locs, LOCATION_SHARES, strict=True):
            if rng.random() < LOCATION_GAP:
                continue
            qty = max(1, round(units * share)) if share >= 0.2 else rng.randint(0, 6)
            if qty:
                stock.append((int(ids[code]), loc, qty))
    stock.sort()
    for start in range(0, len(stock), chunk):
        part = stock[start : start + chunk]
        with db.begin() as conn:
            conn.execute(
                insert(stock_t),
                [
                    {"product_id": p, "location_id": loc, "on_hand": q, "reserved": 0, "updated_at": now}
                    for p, loc, q in part
                ],
            )
            stock_db.append_ledger(
                conn,
                [
                    stock_db.LedgerRow(
                        p, loc, LedgerEntryType.RECEIPT, q, 0, BENCH_ACTOR.name, "opening stock", "BENCH-OPEN"
                    )
                    for p, loc, q in part
                ],
                now,
            )
        progress("stock and ledger", min(start + chunk, len(stock)), len(stock))
    return SeedInfo(n_skus, len(locs), len(stock), sum(q for _, _, q in stock), time.perf_counter() - started)


def create_api_key(db: Database) -> str:
    _, secret = apikeys.create_api_key(db, "bench", ["orders:write"])
    return secret


@contextlib.contextmanager
def progress_bar() -> Iterator[Progress]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    ) as bar:
        yield bar


def reporter(bar: Progress) -> Callable[[str, int, int], None]:
    tasks: dict[str, Any] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(f"seeding {stage}", total=total, info="")
        bar.update(tasks[stage], completed=done)

    return report


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m openoms serve`` in a child process, as a user runs it."""

    def __init__(self, database_url: str, workers: int) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPENOMS_DATABASE_URL": database_url, "OPENOMS_LOG_LEVEL": "warning"}
        self.log_file = tempfile.NamedTemporaryFile(prefix="openoms-bench-server-", suffix=".log", delete=False)  # noqa: SIM115
        cmd = [sys.executable, "-m", "openoms", "serve", "--port", str(self.port), "--workers", str(workers)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not start within 60 s:\n{self.log()}")
            time.sleep(0.2)

    def pids(self) -> list[int]:
        """The supervisor and its worker processes (for ``py-spy``)."""
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True)
        return [self.proc.pid, *(int(p) for p in out.stdout.split())]

    def log(self) -> str:
        return Path(self.log_file.name).read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log_file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log_file.name)


# --- the workload ---------------------------------------------------------------------------


class ZipfSampler:
    """Seeded Zipf(s) over ``items`` (most popular first): bisect over cumulative weights."""

    def __init__(self, items: Sequence[str], s: float, rng: random.Random) -> None:
        self.items = list(items)
        self.rng = rng
        self.cum: list[float] = []
        total = 0.0
        for w in zipf_weights(len(self.items), s):
            total += w
            self.cum.append(total)
        self.total = total

    def __call__(self) -> str:
        i = bisect.bisect_left(self.cum, self.rng.random() * self.total)
        return self.items[min(i, len(self.items) - 1)]


NAMES = ("Ana Rivera", "Ben Okafor", "Chloe Martin", "Dev Patel", "Emma Schultz", "Farah Haddad", "Hana Sato")
CITIES = (("Austin", "TX", "78701"), ("Chicago", "IL", "60607"), ("Seattle", "WA", "98101"), ("Miami", "FL", "33130"))
QUANTITIES = (1, 1, 1, 1, 2, 2, 3)
CUSTOMERS = 50_000


class OrderMaker:
    """Orders of 1-5 lines of distinct SKUs drawn by Zipf popularity, as a channel sends them."""

    def __init__(self, skus_by_rank: Sequence[str], s: float, seed: int, tag: str) -> None:
        self.rng = random.Random(seed)
        self.pick = ZipfSampler(skus_by_rank, s, self.rng)
        self.tag = tag
        self.n = 0

    def __call__(self) -> dict[str, Any]:
        rng = self.rng
        self.n += 1
        want = rng.randint(1, 5)
        skus: list[str] = []
        for _ in range(want * 4):
            sku = self.pick()
            if sku not in skus:
                skus.append(sku)
                if len(skus) == want:
                    break
        c = rng.randrange(CUSTOMERS)
        name = NAMES[c % len(NAMES)]
        city, region, postal = CITIES[c % len(CITIES)]
        lines = []
        for sku in skus:
            price = PRICES[int(sku.rsplit("-", 1)[1]) % len(PRICES)]
            lines.append(
                {
                    "sku": sku,
                    "quantity": rng.choice(QUANTITIES),
                    "unit_price": str(price),
                    "tax": str((price * Decimal("0.0825")).quantize(Decimal("0.01"))),
                }
            )
        return {
            "channel": CHANNEL,
            "external_order_id": f"{self.tag}-{self.n}",
            "currency": "USD",
            "customer": {"email": f"customer{c}@bench.example.com", "name": name},
            "shipping_address": {
                "name": name,
                "line1": f"{100 + c % 900} Main St",
                "city": city,
                "region": region,
                "postal_code": postal,
                "country": "US",
            },
            "lines": lines,
            "shipping_total": "7.95",
        }


# --- load generators ------------------------------------------------------------------------

OK, REJECTED, ERROR = 0, 1, 2


@dataclass(frozen=True)
class LoadSpec:
    mode: str  # "http", "service" or "psycopg"
    target: str  # base URL (http) or database URL
    api_key: str
    skus_by_rank: tuple[str, ...]
    zipf_s: float
    seed: int
    tag: str
    client: str  # HTTP client: "stdlib" (http.client) or "httpx"
    threads: int  # per process
    start_at: float  # time.time() when every client starts (warm-up begins)
    measure_from: float  # requests started before this are warm-up and not counted
    stop_at: float | None  # duration mode: no request starts after this
    quota: int | None  # count mode: measured orders per thread


@dataclass
class ThreadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    outcomes: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    last_end: float = 0.0
    error_samples: list[str] = field(default_factory=list)


def _classify(status: int, body: bytes) -> tuple[int, str]:
    if status == 201:
        return OK, "201"
    if status == 409:
        return REJECTED, f"409 {orjson.loads(body)['error']['code']}"
    return ERROR, f"{status} {body[:300].decode(errors='replace')}"


def _http_sender(spec: LoadSpec) -> tuple[Callable[[dict[str, Any]], tuple[int, str]], Callable[[], None]]:
    """One keep-alive connection per client. ``http.client`` by default: it costs the shared
    CPUs about a sixth of what ``httpx`` does per request (see README)."""
    headers = {"Authorization": f"Bearer {spec.api_key}", "Content-Type": "application/json"}
    if spec.client == "httpx":
        client = httpx.Client(base_url=spec.target, headers=headers, timeout=120.0)

        def send_httpx(order: dict[str, Any]) -> tuple[int, str]:
            r = client.post(ORDERS_PATH, content=orjson.dumps(order))
            return _classify(r.status_code, r.content)

        return send_httpx, client.close

    url = httpx.URL(spec.target)
    conn = http.client.HTTPConnection(url.host, url.port, timeout=120.0)

    def send(order: dict[str, Any]) -> tuple[int, str]:
        try:
            conn.request("POST", ORDERS_PATH, body=orjson.dumps(order), headers=headers)
            r = conn.getresponse()
            return _classify(r.status, r.read())
        except (OSError, http.client.HTTPException):
            conn.close()  # reconnects on the next request
            raise

    return send, conn.close


def _service_sender(
    spec: LoadSpec, db: Database
) -> tuple[Callable[[dict[str, Any]], tuple[int, str]], Callable[[], None]]:
    from openoms.domain.errors import DomainError, ErrorCode
    from openoms.services import orders

    actor = Actor("api-key:bench")
    refused = {ErrorCode.INSUFFICIENT_STOCK, ErrorCode.STOCK_CONFLICT}

    def send(order: dict[str, Any]) -> tuple[int, str]:
        cust = order["customer"]
        cmd = orders.CaptureOrder(
            channel=order["channel"],
            external_order_id=order["external_order_id"],
            currency=order["currency"],
            customer=orders.CustomerInput(cust["email"], cust["name"]),
            shipping_address=order["shipping_address"],
            lines=[
                orders.LineInput(ln["sku"], ln["quantity"], Decimal(ln["unit_price"]), tax=Decimal(ln["tax"]))
                for ln in order["lines"]
            ],
            shipping_total=Decimal(order["shipping_total"]),
        )
        try:
            orders.capture_order(db, cmd, actor)
        except DomainError as exc:
            if exc.code in refused:
                return REJECTED, f"409 {exc.code}"
            return ERROR, f"{exc.code} {exc.message[:300]}"
        return OK, "201"

    return send, lambda: None


def _psycopg_sender(spec: LoadSpec) -> tuple[Callable[[dict[str, Any]], tuple[int, str]], Callable[[], None]]:
    from bare_capture import BareCapture

    bare = BareCapture(spec.target, "api-key:bench")
    return bare.send, bare.close


def _client_thread(spec: LoadSpec, proc: int, thread: int, result: ThreadResult, live: list[int], db: Any) -> None:
    make = OrderMaker(spec.skus_by_rank, spec.zipf_s, seed=spec.seed * 1_000_003 + proc * 1_000 + thread, tag="")
    make.tag = f"{spec.tag}-{proc}-{thread}"
    if spec.mode == "http":
        send, close = _http_sender(spec)
    elif spec.mode == "service":
        send, close = _service_sender(spec, db)
    else:
        send, close = _psycopg_sender(spec)
    try:
        delay = spec.start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        measured = 0
        while True:
            order = make()
            began = time.time()
            if spec.stop_at is not None and began >= spec.stop_at:
                break
            if spec.quota is not None and measured >= spec.quota:
                break
            t0 = time.perf_counter()
            try:
                outcome, label = send(order)
            except Exception as exc:
                outcome, label = ERROR, f"{type(exc).__name__}: {str(exc)[:300]}"
            latency = time.perf_counter() - t0
            if began < spec.measure_from:
                continue
            measured += 1
            result.last_end = time.time()
            result.latencies.append(latency)
            result.outcomes[label.split(" ", 2)[0] if outcome == ERROR else label] += 1
            if outcome == OK:
                result.accepted += 1
                live[0] += 1
            elif outcome == REJECTED:
                result.rejected += 1
            else:
                result.errors += 1
                if len(result.error_samples) < 3:
                    result.error_samples.append(label)
            live[1] += 1
    finally:
        close()


def _child(spec: LoadSpec, proc: int, counters: Any, out: Any) -> None:
    """One load-generating process: ``spec.threads`` closed-loop clients."""
    db = Database(spec.target, pool_size=spec.threads) if spec.mode == "service" else None
    if db is not None:
        from openoms.services import network

        network.warm_up(db)  # as the server does at start-up
    results = [ThreadResult() for _ in range(spec.threads)]
    lives = [[0, 0] for _ in range(spec.threads)]
    threads = [
        threading.Thread(target=_client_thread, args=(spec, proc, t, results[t], lives[t], db), daemon=True)
        for t in range(spec.threads)
    ]
    for t in threads:
        t.start()
    window: tuple[float, float] | None = None  # (wall, CPU) when measuring began
    while any(t.is_alive() for t in threads):
        counters[0] = sum(lv[0] for lv in lives)
        counters[1] = sum(lv[1] for lv in lives)
        if window is None and time.time() >= spec.measure_from:
            window = (time.time(), time.process_time())
        time.sleep(0.1)
    counters[0] = sum(lv[0] for lv in lives)
    counters[1] = sum(lv[1] for lv in lives)
    cores = (time.process_time() - window[1]) / max(time.time() - window[0], 1e-9) if window else math.nan
    if db is not None:
        db.dispose()
    merged = ThreadResult()
    for r in results:
        merged.latencies += r.latencies
        merged.outcomes.update(r.outcomes)
        merged.accepted += r.accepted
        merged.rejected += r.rejected
        merged.errors += r.errors
        merged.last_end = max(merged.last_end, r.last_end)
        merged.error_samples += r.error_samples[: 3 - len(merged.error_samples)]
    out.put((proc, merged, cores))


@dataclass
class RunResult:
    mode: str
    accepted: int
    rejected: int
    errors: int
    seconds: float
    latencies: list[float]
    outcomes: Counter[str]
    cpu: dict[str, float]  # cores busy while measuring: clients, server, postgres, other, idle
    error_samples: list[str]

    @property
    def orders_per_s(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return math.nan
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def run_load(
    mode: str,
    target: str,
    api_key: str,
    skus_by_rank: Sequence[str],
    *,
    procs: int,
    clients: int,
    zipf_s: float,
    seed: int,
    tag: str,
    warmup: float,
    duration: float | None,
    count: int | None,
    bar: Progress,
    label: str,
    server_pids: Sequence[int] = (),
    client: str = "stdlib",
) -> RunResult:
    """Run ``clients`` closed-loop clients spread over ``procs`` processes; gather what they measured."""
    ctx = mp.get_context("spawn")
    start_at = time.time() + 1.0 + 0.4 * procs  # time for the spawned interpreters to import
    measure_from = start_at + warmup
    quota = None
    if count is not None:
        quota = math.ceil(count / clients)
    spec = LoadSpec(
        mode=mode,
        target=target,
        api_key=api_key,
        skus_by_rank=tuple(skus_by_rank),
        zipf_s=zipf_s,
        seed=seed,
        tag=tag,
        client=client,
        threads=0,
        start_at=start_at,
        measure_from=measure_from,
        stop_at=measure_from + duration if duration is not None else None,
        quota=quota,
    )
    out = ctx.Queue()
    counters = [ctx.RawArray("q", 2) for _ in range(procs)]
    per_proc = [clients // procs + (1 if p < clients % procs else 0) for p in range(procs)]
    children = [
        ctx.Process(target=_child, args=(replace(spec, threads=per_proc[p]), p, counters[p], out), daemon=True)
        for p in range(procs)
    ]
    for c in children:
        c.start()
    total = duration if duration is not None else float(quota or 0) * clients
    task = bar.add_task(label, total=total, info="starting")
    results: dict[int, tuple[ThreadResult, float]] = {}
    meter = CpuMeter(server_pids)
    while len(results) < procs:
        try:
            proc, res, cpu = out.get(timeout=0.1)
            results[proc] = (res, cpu)
        except queue.Empty:
            if any(c.exitcode not in (None, 0) for c in children):
                raise RuntimeError(f"a load generator process of {mode} died") from None
        now = time.time()
        accepted = sum(c[0] for c in counters)
        sent = sum(c[1] for c in counters)
        if meter.started is None and now >= measure_from:
            meter.start()
        # end the CPU window just before the clients stop and disconnect
        if (
            (spec.stop_at is not None and now >= spec.stop_at - 0.2)
            or results
            or (quota is not None and sent >= 0.95 * quota * clients)
        ):
            meter.stop()
        meter.poll()
        if now < start_at:
            info = "starting clients"
        elif now < measure_from:
            info = f"warming up ({measure_from - now:.0f} s)"
        else:
            info = f"{accepted:,} accepted / {sent:,} measured, {accepted / max(now - measure_from, 1e-9):,.0f}/s"
        done = (now - measure_from) if duration is not None else sent
        bar.update(task, completed=max(0.0, min(done, total)), info=info)
    for c in children:
        c.join()
    out.close()
    out.join_thread()
    merged = ThreadResult()
    cpu_total = 0.0
    for res, cores in results.values():
        merged.latencies += res.latencies
        merged.outcomes.update(res.outcomes)
        merged.accepted += res.accepted
        merged.rejected += res.rejected
        merged.errors += res.errors
        merged.last_end = max(merged.last_end, res.last_end)
        merged.error_samples += res.error_samples
        cpu_total += cores
    seconds = max(merged.last_end - measure_from, 1e-9)
    bar.update(task, completed=total, info=f"{merged.accepted / seconds:,.0f} orders/s")
    return RunResult(
        mode=mode,
        accepted=merged.accepted,
        rejected=merged.rejected,
        errors=merged.errors,
        seconds=seconds,
        latencies=merged.latencies,
        outcomes=merged.outcomes,
        cpu=meter.breakdown(cpu_total),
        error_samples=merged.error_samples[:5],
    )


class CpuMeter:
    """Where the cores go while measuring, from /proc (Linux): the whole machine, the server's
    processes and every ``postgres`` process (polled, so that backends which disconnect before
    the end still count). The load generator measures itself."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, server_pids: Sequence[int], poll_seconds: float = 0.5) -> None:
        self.server_pids = set(server_pids)
        self.poll_seconds = poll_seconds
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.started: tuple[float, float, float] | None = None  # wall, busy, total
        self.stopped: tuple[float, float, float] | None = None
        self.polled = 0.0

    @classmethod
    def _proc_cpu(cls, pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / cls.TICK

    def _pids(self) -> set[int]:
        pids = set(self.server_pids)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if (entry / "comm").read_text().strip() == "postgres":
                        pids.add(int(entry.name))
                except OSError:
                    continue
        return pids

    @classmethod
    def _machine(cls) -> tuple[float, float, float] | None:
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
        except OSError:
            return None
        idle = values[3] + values[4]
        return time.time(), (sum(values) - idle) / cls.TICK, sum(values) / cls.TICK

    def _scan(self, first: bool) -> None:
        for pid in self._pids():
            cpu = self._proc_cpu(pid)
            if cpu is None:
                continue
            self.first.setdefault(pid, cpu if first else 0.0)  # born after the start: all of it counts
            self.last[pid] = cpu
        self.polled = time.time()

    def start(self) -> None:
        self.started = self._machine()
        self._scan(first=True)

    def poll(self) -> None:
        if self.started and not self.stopped and time.time() - self.polled >= self.poll_seconds:
            self._scan(first=False)

    def stop(self) -> None:
        if self.started and not self.stopped:
            self._scan(first=False)
            self.stopped = self._machine()

    def breakdown(self, clients: float) -> dict[str, float]:
        if self.started is None or self.stopped is None or self.stopped[0] - self.started[0] < 0.5:
            return {"clients": clients}
        wall = self.stopped[0] - self.started[0]
        busy = (self.stopped[1] - self.started[1]) / wall
        used = {pid: self.last[pid] - self.first[pid] for pid in self.last}
        per_process = sorted((v / wall for pid, v in used.items() if pid in self.server_pids), reverse=True)
        server = sum(per_process)
        postgres = sum(v for pid, v in used.items() if pid not in self.server_pids) / wall
        busiest = [v for v in per_process if v >= 0.01]
        return {
            "clients": clients,
            "server": server,
            **{f"server process {i + 1}": v for i, v in enumerate(busiest if len(busiest) > 1 else [])},
            "postgres": postgres,
            "other": max(0.0, busy - clients - server - postgres),
            "idle": (self.stopped[2] - self.started[2]) / wall - busy,
        }


# --- the books --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Books:
    oversold_rows: int
    check_problems: list[str]
    stock_rows: int
    ledger_rows: int
    orders: int
    reserved_units: int

    @property
    def ok(self) -> bool:
        return self.oversold_rows == 0 and not self.check_problems


OVERSOLD_SQL = "SELECT count(*) FROM stock_levels WHERE reserved > on_hand OR reserved < 0"


def audit_books(url: str) -> Books:
    """Oversold stock rows (reserved > on hand or < 0) and the full ``openoms check``."""
    db = Database(url, pool_size=2)
    try:
        with db.read() as conn:
            oversold = int(conn.execute(text(OVERSOLD_SQL)).scalar_one())
            orders = int(conn.execute(text("SELECT count(*) FROM orders")).scalar_one())
            reserved = int(conn.execute(text("SELECT coalesce(sum(reserved), 0) FROM stock_levels")).scalar_one())
        report = run_check(db)
    finally:
        db.dispose()
    return Books(oversold, report.problems, report.stock_rows, report.ledger_rows, orders, reserved)


def machine() -> str:
    return (
        f"{os.cpu_count()} CPU(s), {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )

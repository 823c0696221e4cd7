"""A deterministic "shop" dataset: a SQLite database that changes over time, and a folder of daily events.

The demo pipeline extracts the database with the SQL tap and the events with the files tap, so the data is
shaped to exercise what incremental ELT gets wrong: rows updated days after they were created, prices that
change while old orders keep the old price, anonymous visitors, and event timestamps written in many UTC
offsets whose instants must still land on the right daily partition.

Everything is drawn from one ``random.Random(seed)`` in a fixed order and nothing reads the wall clock, so the
same arguments always give the same bytes.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any

import orjson

DEMO_START: date = date(2024, 1, 1)
DEMO_DAYS: int = 60  # window [2024-01-01, 2024-03-01), end exclusive

BASE_CUSTOMERS = 300
BASE_PRODUCTS = 40
MIN_PRODUCTS = 10
BASE_ORDERS_PER_DAY = 40
BASE_EVENTS_PER_DAY = 200

# Busier weekends make daily partitions differ in size, which a fixed rate would hide. Mean is 1.0.
WEEKDAY_FACTOR = (0.9, 0.95, 0.95, 1.0, 1.05, 1.15, 1.0)

SCHEMA_SQL = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    full_name TEXT,
    country TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_price NUMERIC(10,2) NOT NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL,
    status TEXT NOT NULL,
    ordered_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL,
    product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price NUMERIC(10,2) NOT NULL,
    updated_at DATETIME NOT NULL
);
"""

FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Hedy", "John", "Radia", "Tim", "Katherine", "Guido", "Sophie", "Niklaus", "Anita", "Donald",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen",
    "Dijkstra", "Lamarr", "McCarthy", "Perlman", "Berners-Lee", "Johnson", "van Rossum", "Wilson", "Wirth",
    "Borg", "Knuth",
)  # fmt: skip
COUNTRIES = ("US", "DE", "FR", "GB", "NL", "ES", "IT", "BR", "IN", "JP")
COUNTRY_WEIGHTS = (30, 14, 10, 10, 6, 6, 6, 7, 7, 4)
CATEGORIES = ("books", "electronics", "garden", "kitchen", "outdoor", "toys")
ADJECTIVES = ("Compact", "Classic", "Deluxe", "Eco", "Smart", "Rugged", "Tiny", "Grand")
NOUNS = ("Kettle", "Lamp", "Backpack", "Notebook", "Speaker", "Planter", "Puzzle", "Tent", "Mug", "Drone")
CENTS = ("99", "49", "95", "00")

EVENT_TYPES = ("page_view", "add_to_cart", "checkout")
DEVICES = ("mobile", "desktop", "tablet")
REFERRERS = (None, None, "google", "newsletter", "instagram", "partner-blog")
# Offsets a real event collector sees; "Z" is written literally, the way many clients send UTC.
EVENT_OFFSETS_MINUTES = (0, 0, 120, -300, 330, -480, 540, 60)

INSERT_CHUNK = 5_000


@dataclass(frozen=True)
class DemoDataset:
    """Where a generated dataset lives and how many rows each table or stream got."""

    root: Path
    sqlite_path: Path
    events_dir: Path
    counts: dict[str, int]


@dataclass
class _Product:
    id: int
    price: Decimal
    new_price: Decimal | None
    price_changed_at: datetime | None

    def price_at(self, instant: datetime) -> Decimal:
        changed = self.price_changed_at
        if self.new_price is not None and changed is not None and instant >= changed:
            return self.new_price
        return self.price


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime

    def clamp(self, instant: datetime) -> datetime | None:
        """The instant if it happened inside the window, else None: later changes are not known yet."""
        return instant if instant < self.end else None


def generate_demo(
    dest: Path, *, scale: float = 1.0, seed: int = 7, start: date = DEMO_START, days: int = DEMO_DAYS
) -> DemoDataset:
    """Write ``dest/shop.sqlite`` and one ``dest/events/events-YYYY-MM-DD.jsonl`` per day of the window."""
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    events_dir = dest / "events"
    events_dir.mkdir(exist_ok=True)

    rng = Random(seed)
    window_start = datetime(start.year, start.month, start.day)
    window = _Window(window_start, window_start + timedelta(days=days))
    sqlite_path = dest / "shop.sqlite"

    counts: dict[str, int] = {}
    with _atomic_path(sqlite_path) as tmp_path:
        conn = sqlite3.connect(tmp_path, isolation_level=None)
        try:
            # Nothing reads a half-built file (it is renamed into place at the end), so durability is waste.
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("BEGIN")
            _create_tables(conn)
            customer_times = _write_customers(conn, rng, window, scale, counts)
            products = _write_products(conn, rng, window, scale, counts)
            _write_orders(conn, rng, window, scale, customer_times, products, counts)
            conn.execute("COMMIT")
        finally:
            conn.close()

    counts["events"] = _write_events(events_dir, rng, window, scale, customer_times, len(products))
    return DemoDataset(root=dest, sqlite_path=sqlite_path, events_dir=events_dir, counts=counts)


def _create_tables(conn: sqlite3.Connection) -> None:
    # executescript would COMMIT the open transaction first, so run the statements one by one.
    for statement in SCHEMA_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


@contextlib.contextmanager
def _atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` that replaces it only if the block succeeds.

    Readers (a running tap, DuckDB) never see a half-written file, and a failed run keeps the old one.
    """
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _scaled(base: float, scale: float, minimum: int = 1) -> int:
    return max(minimum, round(base * scale))


def _sql_time(instant: datetime) -> str:
    """The text form SQLAlchemy's SQLite DateTime reads and writes; comparisons on it sort correctly."""
    return instant.isoformat(sep=" ", timespec="microseconds")


def _random_instant(rng: Random, start: datetime, end: datetime) -> datetime:
    span = int((end - start) / timedelta(microseconds=1))
    return start + timedelta(microseconds=rng.randrange(max(span, 1)))


def _insert(conn: sqlite3.Connection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    placeholders = ",".join("?" * len(rows[0]))
    for offset in range(0, len(rows), INSERT_CHUNK):
        conn.executemany(f"INSERT INTO {table} VALUES ({placeholders})", rows[offset : offset + INSERT_CHUNK])


def _write_customers(
    conn: sqlite3.Connection, rng: Random, window: _Window, scale: float, counts: dict[str, int]
) -> list[datetime]:
    """Insert customers in signup order and return their signup instants, for picking who can act when."""
    total = _scaled(BASE_CUSTOMERS, scale)
    # A third already exist on day one so the first day has buyers; the rest sign up over the window.
    early = max(1, total // 3)
    first_day_end = window.start + timedelta(days=1)
    created = [window.start]
    created += sorted(_random_instant(rng, window.start, first_day_end) for _ in range(early - 1))
    created += sorted(_random_instant(rng, window.start, window.end) for _ in range(total - early))
    created.sort()

    rows: list[tuple[Any, ...]] = []
    for customer_id, created_at in enumerate(created, start=1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}{customer_id}@example.com".lower().replace(" ", "")
        country: str | None = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        full_name: str | None = f"{first} {last}"
        updated_at = created_at
        if rng.random() < 0.2:  # moved country or fixed their profile later
            changed = window.clamp(created_at + timedelta(days=rng.uniform(1, 30)))
            if changed is not None:
                updated_at = changed
                country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        if rng.random() < 0.03:  # profiles with missing optional fields, so nullable columns see nulls
            full_name, country = None, None
        rows.append((customer_id, email, full_name, country, _sql_time(created_at), _sql_time(updated_at)))
        if len(rows) >= INSERT_CHUNK:
            _insert(conn, "customers", rows)
            rows.clear()
    _insert(conn, "customers", rows)
    counts["customers"] = total
    return created


def _write_products(
    conn: sqlite3.Connection, rng: Random, window: _Window, scale: float, counts: dict[str, int]
) -> list[_Product]:
    total = _scaled(BASE_PRODUCTS, scale, minimum=MIN_PRODUCTS)
    products: list[_Product] = []
    rows: list[tuple[Any, ...]] = []
    first_day_end = window.start + timedelta(days=1)
    for product_id in range(1, total + 1):
        created_at = _random_instant(rng, window.start, first_day_end)
        price = Decimal(f"{rng.randint(2, 199)}.{rng.choice(CENTS)}")
        product = _Product(product_id, price, None, None)
        if rng.random() < 0.15:  # a price change mid-window: old order items must keep the old price
            product.price_changed_at = window.clamp(created_at + timedelta(days=rng.uniform(3, 45)))
            if product.price_changed_at is not None:
                product.new_price = (price * Decimal(rng.choice(("0.8", "0.9", "1.1", "1.25")))).quantize(
                    Decimal("0.01")
                )
        products.append(product)
        final_price = product.new_price if product.new_price is not None else price
        updated_at = product.price_changed_at or created_at
        rows.append(
            (
                product_id,
                f"SKU-{product_id:05d}",
                f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}",
                rng.choice(CATEGORIES),
                str(final_price),
                _sql_time(created_at),
                _sql_time(updated_at),
            )
        )
    _insert(conn, "products", rows)
    counts["products"] = total
    return products


def _order_history(rng: Random, ordered_at: datetime, window: _Window) -> tuple[str, datetime]:
    """Walk an order through its statuses and return the one it has at the end of the window.

    Transitions after the window end have not happened yet, which is why recent orders are still 'placed'
    or 'paid' while older ones are 'shipped'.
    """
    status, updated_at = "placed", ordered_at
    steps: list[tuple[str, timedelta]]
    if rng.random() < 0.08:
        steps = [("cancelled", timedelta(hours=rng.uniform(1, 48)))]
    else:
        steps = [
            ("paid", timedelta(minutes=rng.uniform(5, 720))),
            ("shipped", timedelta(days=rng.uniform(1, 3))),
        ]
        if rng.random() < 0.05:
            steps.append(("refunded", timedelta(days=rng.uniform(2, 10))))
    instant = ordered_at
    for next_status, delay in steps:
        instant = instant + delay
        if window.clamp(instant) is None:
            break
        status, updated_at = next_status, instant
    return status, updated_at


def _write_orders(
    conn: sqlite3.Connection,
    rng: Random,
    window: _Window,
    scale: float,
    customer_times: list[datetime],
    products: list[_Product],
    counts: dict[str, int],
) -> None:
    """Insert orders day by day, so memory stays flat however large the scale."""
    order_id = item_id = 0
    for day_start in _days(window):
        per_day = _scaled(BASE_ORDERS_PER_DAY * WEEKDAY_FACTOR[day_start.weekday()], scale)
        day_end = day_start + timedelta(days=1)
        order_rows: list[tuple[Any, ...]] = []
        item_rows: list[tuple[Any, ...]] = []
        for ordered_at in sorted(_random_instant(rng, day_start, day_end) for _ in range(per_day)):
            order_id += 1
            customer_id = _pick_customer(rng, customer_times, ordered_at)
            status, updated_at = _order_history(rng, ordered_at, window)
            order_rows.append((order_id, customer_id, status, _sql_time(ordered_at), _sql_time(updated_at)))
            for product in rng.sample(products, rng.choice((1, 1, 2, 2, 3, 4))):
                item_id += 1
                quantity = rng.choice((1, 1, 1, 2, 3))
                price = product.price_at(ordered_at)
                item_rows.append((item_id, order_id, product.id, quantity, str(price), _sql_time(ordered_at)))
        _insert(conn, "orders", order_rows)
        _insert(conn, "order_items", item_rows)
    counts["orders"] = order_id
    counts["order_items"] = item_id


def _pick_customer(rng: Random, customer_times: list[datetime], instant: datetime) -> int:
    """A customer who had signed up by ``instant``; customer 1 exists from the first microsecond."""
    signed_up = bisect.bisect_right(customer_times, instant)
    return rng.randint(1, max(signed_up, 1))


def _days(window: _Window) -> Iterator[datetime]:
    day = window.start
    while day < window.end:
        yield day
        day += timedelta(days=1)


def _rfc3339(instant_utc: datetime, offset_minutes: int, literal_z: bool) -> str:
    """Render a UTC instant as the local time a client in that offset would send."""
    if offset_minutes == 0 and literal_z:
        return instant_utc.isoformat(timespec="milliseconds") + "Z"
    local = instant_utc.replace(tzinfo=UTC).astimezone(timezone(timedelta(minutes=offset_minutes)))
    return local.isoformat(timespec="milliseconds")


def _write_events(
    events_dir: Path,
    rng: Random,
    window: _Window,
    scale: float,
    customer_times: list[datetime],
    product_count: int,
) -> int:
    """Write one JSONL file per UTC day, sessions of a few events each, in instant order."""
    keep: set[str] = set()
    event_number = 0
    session_number = 0
    for day_start in _days(window):
        target = _scaled(BASE_EVENTS_PER_DAY * WEEKDAY_FACTOR[day_start.weekday()], scale, minimum=0)
        day_end = day_start + timedelta(days=1)
        events: list[tuple[datetime, dict[str, Any]]] = []
        while len(events) < target:
            session_number += 1
            events.extend(
                _session_events(rng, day_start, day_end, customer_times, product_count, session_number)
            )
        del events[target:]
        events.sort(key=lambda pair: pair[0])

        path = events_dir / f"events-{day_start.date().isoformat()}.jsonl"
        keep.add(path.name)
        with _atomic_path(path) as tmp, tmp.open("wb") as handle:
            for _, event in events:
                event_number += 1
                handle.write(orjson.dumps({"event_id": f"evt-{event_number:09d}", **event}) + b"\n")
    # Files from an earlier, longer or shifted window would otherwise be read as today's data.
    for stale in events_dir.glob("events-*.jsonl"):
        if stale.name not in keep:
            stale.unlink()
    return event_number


def _session_events(
    rng: Random,
    day_start: datetime,
    day_end: datetime,
    customer_times: list[datetime],
    product_count: int,
    session_number: int,
) -> list[tuple[datetime, dict[str, Any]]]:
    """One visit: a few page views, maybe a cart, rarely a checkout, all inside the same UTC day."""
    began = _random_instant(rng, day_start, day_end)
    anonymous = rng.random() < 0.35
    customer_id = None if anonymous else _pick_customer(rng, customer_times, began)
    offset = rng.choice(EVENT_OFFSETS_MINUTES)
    literal_z = rng.random() < 0.5
    properties = {"referrer": rng.choice(REFERRERS), "device": rng.choice(DEVICES)}
    session_id = f"ses-{session_number:08d}"

    events: list[tuple[datetime, dict[str, Any]]] = []
    instant = began
    for position in range(rng.randint(1, 8)):
        if position:
            instant = instant + timedelta(seconds=rng.uniform(2, 300))
            if instant >= day_end:
                break
        roll = rng.random()
        event_type = "page_view" if roll < 0.75 else ("add_to_cart" if roll < 0.93 else "checkout")
        if event_type == "checkout" and anonymous:
            event_type = "page_view"  # anonymous visitors must sign in before they can check out
        product_id = None
        if event_type == "add_to_cart" or (event_type == "page_view" and rng.random() < 0.7):
            product_id = rng.randint(1, product_count)
        record = {
            "event_type": event_type,
            "customer_id": customer_id,
            "product_id": product_id,
            "occurred_at": _rfc3339(instant, offset, literal_z),
            "session_id": session_id,
            "properties": dict(properties),
        }
        events.append((instant, record))
    return events

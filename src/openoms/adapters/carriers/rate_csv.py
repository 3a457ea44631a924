"""Rate tables from CSV: every row checked, and a file with any error loads nothing.

The format is in docs/carriers.md. Cells are parsed here (numbers, service levels, currency
codes); the rules that span rows (overlapping bands, one currency, a service code naming one
carrier) are the domain's ``check_rate_rows``, so a table built in code obeys the same rules.
Errors carry the file's row number (the header is row 1), the column, and the reason.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path

from openoms.domain.carriers import US_DISTANCE_ZONES, DistanceZone, RateRow, RateTable, check_rate_rows
from openoms.domain.network import ServiceLevel

REQUIRED_COLUMNS = (
    "location",
    "carrier",
    "service_code",
    "service_level",
    "weight_up_to_grams",
    "cost",
    "currency",
    "transit_days_min",
    "transit_days_max",
)
BAND_COLUMNS = ("zone", "distance_km_from", "distance_km_to")
COLUMNS = (*REQUIRED_COLUMNS[:4], *BAND_COLUMNS, *REQUIRED_COLUMNS[4:])
"""The header order docs/carriers.md shows; any order is accepted."""

DATA_DIR = Path(__file__).parent / "data"
DEMO_RATES = DATA_DIR / "demo_rates.csv"
DEMO_NETWORK = DATA_DIR / "us_network.csv"

_WHOLE = re.compile(r"[0-9]+")
_LEVELS = ", ".join(level.value for level in ServiceLevel)


@dataclass(frozen=True)
class RateCsvProblem:
    row: int  # row of the file; the header is row 1
    field: str  # column name
    reason: str


class RateCsvError(Exception):
    """The file was refused; ``problems`` lists every bad cell, in file order."""

    def __init__(self, source: str, problems: list[RateCsvProblem]) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(f"row {p.row} {p.field}: {p.reason}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{source}: {len(problems)} problem(s), nothing loaded: {shown}{more}")


def parse_rate_rows(lines: Iterable[str]) -> tuple[list[RateRow], list[int], list[RateCsvProblem]]:
    """Rows that parsed, their file row numbers, and the cell problems of those that did not.
    Cross-row rules are not checked here: ``load_rate_table`` does that."""
    reader = csv.DictReader(lines)
    header = [(h or "").strip() for h in (reader.fieldnames or [])]
    problems = _check_header(header)
    if problems:
        return [], [], problems
    reader.fieldnames = header
    rows: list[RateRow] = []
    numbers: list[int] = []
    for raw in reader:
        row_no = reader.line_num
        cells = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        errors: list[RateCsvProblem] = []
        if None in raw:
            errors.append(RateCsvProblem(row_no, "(extra cells)", f"{len(raw[None])} cell(s) beyond the header"))
        parsed = _parse_row(cells, row_no, errors)
        if errors:
            problems.extend(errors)
        elif parsed is not None:
            rows.append(parsed)
            numbers.append(row_no)
    return rows, numbers, problems


def _check_header(header: list[str]) -> list[RateCsvProblem]:
    problems = []
    if not header:
        return [RateCsvProblem(1, "(header)", "the file is empty; expected the header " + ",".join(COLUMNS))]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(RateCsvProblem(1, name, "column appears more than once"))
        seen.add(name)
        if name not in COLUMNS:
            problems.append(RateCsvProblem(1, name or "(blank)", f"unknown column; expected {', '.join(COLUMNS)}"))
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            problems.append(RateCsvProblem(1, name, "required column is missing"))
    if "zone" not in seen and "distance_km_from" not in seen:
        problems.append(RateCsvProblem(1, "zone", "give a zone column or distance_km_from/distance_km_to columns"))
    return problems


def _parse_row(cells: dict[str, str], row_no: int, errors: list[RateCsvProblem]) -> RateRow | None:
    def bad(field: str, reason: str) -> None:
        errors.append(RateCsvProblem(row_no, field, reason))

    def text(field: str) -> str:
        value = cells.get(field, "")
        if not value:
            bad(field, "required")
        return value

    def whole(field: str, what: str) -> int:
        value = cells.get(field, "")
        if not _WHOLE.fullmatch(value):
            bad(field, f"{value!r} is not {what}")
            return 0
        return int(value)

    def distance(field: str) -> float | None:
        value = cells.get(field, "")
        if not value:
            return None
        try:
            km = float(value)
        except ValueError:
            km = math.nan
        if not math.isfinite(km) or km < 0:
            bad(field, f"{value!r} is not a distance in km (0 or more)")
            return None
        return km

    location = text("location")
    carrier = text("carrier")
    service_code = text("service_code")
    level_text = cells.get("service_level", "")
    level: ServiceLevel | None = None
    try:
        level = ServiceLevel(level_text.lower())
    except ValueError:
        bad("service_level", f"unknown service level {level_text!r}; one of {_LEVELS}")
    weight = whole("weight_up_to_grams", "a whole number of grams")
    cost_text = cells.get("cost", "")
    try:
        cost = Decimal(cost_text)
    except InvalidOperation:
        bad("cost", f"{cost_text!r} is not an amount")
        cost = Decimal(0)
    currency = text("currency").upper()
    transit_min = whole("transit_days_min", "a whole number of days (0 or more)")
    transit_max = whole("transit_days_max", "a whole number of days (0 or more)")
    zone = cells.get("zone", "") or None
    from_km = distance("distance_km_from")
    to_km = distance("distance_km_to")
    if errors or level is None:
        return None
    return RateRow(
        location=location,
        carrier=carrier,
        service_code=service_code,
        service_level=level,
        weight_up_to_grams=weight,
        cost=cost,
        currency=currency,
        transit_days_min=transit_min,
        transit_days_max=transit_max,
        zone=zone,
        from_km=from_km,
        to_km=to_km,
    )


def load_rate_table(
    lines: Iterable[str], source: str = "rates", zones: tuple[DistanceZone, ...] = US_DISTANCE_ZONES
) -> RateTable:
    """A ``RateTable`` from CSV lines, or ``RateCsvError`` with every problem and nothing loaded."""
    rows, numbers, problems = parse_rate_rows(lines)
    for p in check_rate_rows(rows, zones):
        problems.append(RateCsvProblem(numbers[p.row], p.field, p.reason))
    if not rows and not problems:
        problems.append(RateCsvProblem(1, "(rows)", "the file has a header but no rate rows"))
    if problems:
        raise RateCsvError(source, sorted(problems, key=lambda p: (p.row, p.field)))
    return RateTable(rows, zones)


def read_rate_table(path: str | Path, zones: tuple[DistanceZone, ...] = US_DISTANCE_ZONES) -> RateTable:
    """Load a rate CSV file (UTF-8, a byte-order mark from a spreadsheet is fine)."""
    p = Path(path)
    with p.open(encoding="utf-8-sig", newline="") as f:
        return load_rate_table(f, str(p), zones)


def parse_rate_table(text: str, source: str = "rates") -> RateTable:
    """Load a rate table from CSV text, e.g. an uploaded file."""
    return load_rate_table(io.StringIO(text.lstrip("\ufeff"), newline=""), source)


@lru_cache(maxsize=1)
def load_demo_rates() -> RateTable:
    """The illustrative US rate table shipped for the demo network (docs/carriers.md)."""
    return read_rate_table(DEMO_RATES)

"""The sourcing engine: which location ships which line of an order, and why.

Pure: stock, locations, rules and two callables in, a ``RoutingDecision`` out. It never
reserves; capture applies the decision with conditional updates and re-plans on a lost race.
The model in words, with a worked example, is docs/routing.md; the decisions behind it are in
docs/adr/0013-sourcing-engine.md. In short:

1. **Eligibility.** A location is out for the whole order when it does not ship, its kind is
   not allowed by the rules, or it is closed to the order's channel. It is out for one line
   when it is not hazmat-licensed (hazmat lines), not secure (high-value lines), has too few
   units of the SKU, or has less capacity left today than the line's units. Every reason is
   kept for the explanation.
2. **Options.** A *shipment option* is a set of lines (a block) from one location: the block's
   units must fit the location's stock and capacity together, and the parcel (the sum of its
   units' weights) must get a carrier quote in the rules' currency. The service is the
   cheapest quote, or the fastest for service levels the rules rank by arrival
   (``fastest_first``). ``promise`` dates it.
3. **Plans.** A plan ships every line in full from one location per line (a line is never
   split across locations, so a plan never has more shipments than lines). Its score, in the
   rules' currency, is::

       carrier_cost * w.carrier_cost            (sum over shipments)
     + delivery_days * w.transit_day            (days from the order date until it is complete)
     + distance_km / 100 * w.per_100_km         (sum over shipments)
     + (shipments - 1) * w.extra_shipment       (the split penalty)
     + load * w.load                            (sum over shipments of the location's load, 0..1)

   The distance is the great circle between the location's and the address's points, or
   the carrier's ``distance_km`` when a point is missing. An order is complete when its last
   parcel arrives (the ``latest`` of its window). With
   ship-complete every parcel waits for the last one to be ready, so each arrives as much
   later as it waited (an estimate in calendar days; capture stamps the exact promise with
   ``promising.promise_order``).
4. **Choice.** The lowest score wins; ties go to fewer shipments, then the earlier complete
   date, then the location codes (sorted, compared as text). Service levels in
   ``fastest_first`` (expedited and premium by default) compare the complete date first and
   the score second. Split plans exist only when the policy allows them, have at most
   ``max_shipments`` shipments, and under ``min_days_saved`` must complete at least that many
   days before the best single-location plan (when there is one).
5. **Search.** Every single-location plan is scored. Splits (orders of up to
   ``EXACT_MAX_LINES`` lines) are searched exactly: for each partition of the lines into
   blocks, a lower bound from the lightest parcel's quotes (no pricing of the blocks at all)
   skips shapes that cannot beat the best plan so far; the others are priced and enumerated
   per completion threshold over each block's ``k`` cheapest options, which provably holds
   an optimum (ADR 13). Longer orders split by a greedy cover. The decision is the same as
   trying every assignment of lines to locations (tested against exactly that).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property, lru_cache
from typing import Any, TypeVar

from openoms.domain.carriers import great_circle_km  # the distance the rate zones use too
from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.inventory import Allocation, AllocationPlan, InsufficientStock, Shortage
from openoms.domain.money import is_currency
from openoms.domain.network import Address, LocationProfile, PromiseWindow, RateQuote, ServiceLevel

#: Location kinds the database knows (``locations.kind``).
LOCATION_KINDS: frozenset[str] = frozenset({"warehouse", "store", "3pl", "dropship"})
#: Orders with more lines than this are split by a greedy cover instead of the exact search.
EXACT_MAX_LINES = 5
#: Split plans kept in an explanation (all single-location plans are always kept).
MAX_SPLIT_PLANS_EXPLAINED = 10
#: Starting locations the greedy cover tries for long orders.
GREEDY_STARTS = 8
MAX_SHIPMENTS_LIMIT = 20
MAX_RULES_VERSION = 2**31 - 1
MAX_RULES_NAME = 40  # "routing/<name>@v<version>" fits orders.sourcing_rule (64)

QuoteFn = Callable[[LocationProfile, Address, int, ServiceLevel], Sequence[RateQuote]]
PromiseFn = Callable[[LocationProfile, RateQuote], PromiseWindow]
StockMap = Mapping[tuple[str, str], int]  # (sku, location_code) -> units available to promise

_E = TypeVar("_E", bound=StrEnum)
_NOT_HAZMAT, _NOT_SECURE, _SHORT, _CAPACITY = range(4)
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


# --- rules ------------------------------------------------------------------------------------


class SplitPolicy(StrEnum):
    NEVER = "never"
    ALLOWED = "allowed"
    MIN_DAYS_SAVED = "min_days_saved"  # only when it completes N days before the best single plan


class FulfilmentMode(StrEnum):
    SHIP_AS_AVAILABLE = "ship_as_available"  # each parcel leaves when it is ready
    SHIP_COMPLETE = "ship_complete"  # every parcel waits for the last one to be ready


@dataclass(frozen=True)
class CostWeights:
    """What one unit of each cost factor is worth, in the rules' currency. All non-negative."""

    carrier_cost: Decimal = Decimal("1")  # per currency unit the carrier charges
    transit_day: Decimal = Decimal("1.50")  # per day until the order is complete
    per_100_km: Decimal = Decimal("0.20")  # per 100 km between location and customer
    extra_shipment: Decimal = Decimal("5")  # per shipment beyond the first (split penalty)
    load: Decimal = Decimal("3")  # per shipment from a fully loaded location (scaled by load)

    def to_dict(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in _WEIGHT_FIELDS}


_WEIGHT_FIELDS = ("carrier_cost", "transit_day", "per_100_km", "extra_shipment", "load")
_DEFAULT_FASTEST = frozenset({ServiceLevel.EXPEDITED, ServiceLevel.PREMIUM})


@dataclass(frozen=True)
class SourcingRules:
    """One version of a business's sourcing rules. Versions are immutable: a decision names
    the version it used, so it can be explained after the rules change."""

    version: int
    name: str = "default"
    split_policy: SplitPolicy = SplitPolicy.ALLOWED
    split_min_days_saved: int = 0  # for MIN_DAYS_SAVED, at least 1
    fulfilment_mode: FulfilmentMode = FulfilmentMode.SHIP_AS_AVAILABLE
    max_shipments: int = 3
    weights: CostWeights = field(default_factory=CostWeights)
    fastest_first: frozenset[ServiceLevel] = _DEFAULT_FASTEST  # ranked by arrival, then cost
    hazmat_requires_license: bool = True
    high_value_requires_secure: bool = True
    allowed_kinds: frozenset[str] = LOCATION_KINDS
    currency: str = "USD"

    def __post_init__(self) -> None:
        errors = _rules_errors(self)
        if errors:
            raise _invalid_rules(errors)

    @property
    def rule_label(self) -> str:
        """What capture stamps on the order (``orders.sourcing_rule``)."""
        return f"routing/{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "split_policy": self.split_policy.value,
            "split_min_days_saved": self.split_min_days_saved,
            "fulfilment_mode": self.fulfilment_mode.value,
            "max_shipments": self.max_shipments,
            "weights": self.weights.to_dict(),
            "fastest_first": sorted(s.value for s in self.fastest_first),
            "hazmat_requires_license": self.hazmat_requires_license,
            "high_value_requires_secure": self.high_value_requires_secure,
            "allowed_kinds": sorted(self.allowed_kinds),
            "currency": self.currency,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourcingRules:
        """Rules from stored or posted JSON. Every problem is reported at once, each naming its
        field (``weights.transit_day``, ``allowed_kinds[1]``); missing optional fields take the
        defaults, unknown fields are refused (a typo must not silently do nothing)."""
        if not isinstance(data, Mapping):
            raise _invalid_rules([FieldError("rules", "must be an object")])
        errors: list[FieldError] = []
        kwargs: dict[str, Any] = {}
        for key in sorted(set(data) - _RULE_FIELDS):
            errors.append(FieldError(str(key), "is not a known field"))
        if "version" not in data:
            errors.append(FieldError("version", "is required"))
        else:
            kwargs["version"] = _int_field(data["version"], "version", errors)
        if "name" in data:
            kwargs["name"] = _str_field(data["name"], "name", errors)
        if "split_policy" in data:
            kwargs["split_policy"] = _enum_field(data["split_policy"], "split_policy", SplitPolicy, errors)
        if "split_min_days_saved" in data:
            kwargs["split_min_days_saved"] = _int_field(data["split_min_days_saved"], "split_min_days_saved", errors)
        if "fulfilment_mode" in data:
            kwargs["fulfilment_mode"] = _enum_field(data["fulfilment_mode"], "fulfilment_mode", FulfilmentMode, errors)
        if "max_shipments" in data:
            kwargs["max_shipments"] = _int_field(data["max_shipments"], "max_shipments", errors)
        if "weights" in data:
            kwargs["weights"] = _weights_field(data["weights"], errors)
        if "fastest_first" in data:
            levels = _list_field(data["fastest_first"], "fastest_first", errors)
            kwargs["fastest_first"] = frozenset(
                _enum_field(v, f"fastest_first[{i}]", ServiceLevel, errors) for i, v in enumerate(levels)
            )
        for flag in ("hazmat_requires_license", "high_value_requires_secure"):
            if flag in data:
                if isinstance(data[flag], bool):
                    kwargs[flag] = data[flag]
                else:
                    errors.append(FieldError(flag, "must be true or false"))
        if "allowed_kinds" in data:
            kinds = _list_field(data["allowed_kinds"], "allowed_kinds", errors)
            kwargs["allowed_kinds"] = frozenset(
                _str_field(v, f"allowed_kinds[{i}]", errors) for i, v in enumerate(kinds)
            )
        if "currency" in data:
            kwargs["currency"] = _str_field(data["currency"], "currency", errors)
        # Check the values too, with the unreadable fields left at their defaults, so that
        # one answer lists every problem.
        unreadable = {e.field.split(".")[0].split("[")[0] for e in errors}
        values = {k: v for k, v in kwargs.items() if k not in unreadable}
        values.setdefault("version", 1)
        try:
            rules = cls(**values)
        except DomainError as exc:
            errors.extend(e for e in exc.errors if e.field.split(".")[0] not in unreadable or e.field == "weights")
        else:
            if not errors:
                return rules
        raise _invalid_rules(_dedupe(errors))


_RULE_FIELDS = frozenset(
    {
        "version",
        "name",
        "split_policy",
        "split_min_days_saved",
        "fulfilment_mode",
        "max_shipments",
        "weights",
        "fastest_first",
        "hazmat_requires_license",
        "high_value_requires_secure",
        "allowed_kinds",
        "currency",
    }
)


def _invalid_rules(errors: list[FieldError]) -> DomainError:
    return DomainError(
        ErrorCode.VALIDATION_ERROR,
        "Invalid sourcing rules: " + "; ".join(f"{e.field}: {e.reason}" for e in errors),
        errors,
    )


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    return list(dict.fromkeys(errors))


def _int_field(value: Any, name: str, errors: list[FieldError]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError(name, "must be a whole number"))
        return 0
    return value


def _str_field(value: Any, name: str, errors: list[FieldError]) -> str:
    if not isinstance(value, str):
        errors.append(FieldError(name, "must be text"))
        return ""
    return value


def _list_field(value: Any, name: str, errors: list[FieldError]) -> list[Any]:
    if not isinstance(value, list | tuple):
        errors.append(FieldError(name, "must be a list"))
        return []
    return list(value)


def _enum_field(value: Any, name: str, enum: type[_E], errors: list[FieldError]) -> _E:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        errors.append(FieldError(name, f"must be one of {allowed}"))
        return next(iter(enum))


def _weights_field(value: Any, errors: list[FieldError]) -> CostWeights:
    if not isinstance(value, Mapping):
        errors.append(FieldError("weights", "must be an object"))
        return CostWeights()
    for key in sorted(set(value) - set(_WEIGHT_FIELDS)):
        errors.append(FieldError(f"weights.{key}", "is not a known weight"))
    parsed: dict[str, Decimal] = {}
    for name in _WEIGHT_FIELDS:
        if name not in value:
            continue
        raw = value[name]
        path = f"weights.{name}"
        if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
            errors.append(FieldError(path, "must be a number"))
            continue
        try:
            parsed[name] = Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw)
        except InvalidOperation:
            errors.append(FieldError(path, "must be a number"))
    try:
        return CostWeights(**parsed)
    except TypeError:  # pragma: no cover - keys are filtered above
        return CostWeights()


def _rules_errors(r: SourcingRules) -> list[FieldError]:
    errors: list[FieldError] = []
    if isinstance(r.version, bool) or not isinstance(r.version, int) or not 1 <= r.version <= MAX_RULES_VERSION:
        errors.append(FieldError("version", f"must be a whole number from 1 to {MAX_RULES_VERSION}"))
    if not isinstance(r.name, str) or not r.name.strip() or r.name != r.name.strip():
        errors.append(FieldError("name", "must be non-empty text without leading or trailing spaces"))
    elif len(r.name) > MAX_RULES_NAME:
        errors.append(FieldError("name", f"must be at most {MAX_RULES_NAME} characters"))
    if not isinstance(r.split_policy, SplitPolicy):
        errors.append(FieldError("split_policy", "must be a SplitPolicy"))
    if isinstance(r.split_min_days_saved, bool) or not isinstance(r.split_min_days_saved, int):
        errors.append(FieldError("split_min_days_saved", "must be a whole number"))
    elif r.split_min_days_saved < 0:
        errors.append(FieldError("split_min_days_saved", "must not be negative"))
    elif r.split_policy == SplitPolicy.MIN_DAYS_SAVED and r.split_min_days_saved < 1:
        errors.append(FieldError("split_min_days_saved", "must be at least 1 when split_policy is min_days_saved"))
    if not isinstance(r.fulfilment_mode, FulfilmentMode):
        errors.append(FieldError("fulfilment_mode", "must be a FulfilmentMode"))
    if (
        isinstance(r.max_shipments, bool)
        or not isinstance(r.max_shipments, int)
        or not 1 <= r.max_shipments <= MAX_SHIPMENTS_LIMIT
    ):
        errors.append(FieldError("max_shipments", f"must be a whole number from 1 to {MAX_SHIPMENTS_LIMIT}"))
    if isinstance(r.weights, CostWeights):
        for name in _WEIGHT_FIELDS:
            w = getattr(r.weights, name)
            if not isinstance(w, Decimal) or not w.is_finite():
                errors.append(FieldError(f"weights.{name}", "must be a finite number"))
            elif w < 0:
                errors.append(FieldError(f"weights.{name}", "must not be negative"))
            elif w > Decimal(1_000_000):
                errors.append(FieldError(f"weights.{name}", "must be at most 1000000"))
    else:
        errors.append(FieldError("weights", "must be CostWeights"))
    if not all(isinstance(s, ServiceLevel) for s in r.fastest_first):
        errors.append(FieldError("fastest_first", "must list service levels"))
    if not isinstance(r.hazmat_requires_license, bool):
        errors.append(FieldError("hazmat_requires_license", "must be true or false"))
    if not isinstance(r.high_value_requires_secure, bool):
        errors.append(FieldError("high_value_requires_secure", "must be true or false"))
    unknown_kinds = sorted(str(k) for k in r.allowed_kinds if k not in LOCATION_KINDS)
    if unknown_kinds:
        errors.append(
            FieldError(
                "allowed_kinds", f"unknown kind {', '.join(unknown_kinds)}; known: {', '.join(sorted(LOCATION_KINDS))}"
            )
        )
    elif not r.allowed_kinds:
        errors.append(FieldError("allowed_kinds", "must allow at least one kind of location"))
    if not isinstance(r.currency, str) or not is_currency(r.currency):
        errors.append(FieldError("currency", "must be an ISO 4217 currency code such as USD"))
    return errors


# --- request ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingLine:
    line_index: int  # position in the order, as in ``inventory.Allocation``
    sku: str
    quantity: int
    weight_grams: int  # of one unit
    hazmat: bool = False
    high_value: bool = False


@dataclass(frozen=True)
class RoutingRequest:
    """An order (or a prospective basket) to route. ``order_date`` is the day the promise is
    given; delivery days in the explanation count from it."""

    lines: tuple[RoutingLine, ...]
    destination: Address
    channel: str
    order_date: dt.date
    service_level: ServiceLevel = ServiceLevel.STANDARD


def _check_request(request: RoutingRequest, locations: Sequence[LocationProfile]) -> None:
    errors: list[FieldError] = []
    if not request.lines:
        errors.append(FieldError("lines", "must have at least one line"))
    seen: set[int] = set()
    for i, line in enumerate(request.lines):
        if line.line_index in seen:
            errors.append(FieldError(f"lines[{i}].line_index", f"line index {line.line_index} is repeated"))
        seen.add(line.line_index)
        if line.quantity < 1:
            errors.append(FieldError(f"lines[{i}].quantity", "must be at least 1"))
        if line.weight_grams < 0:
            errors.append(FieldError(f"lines[{i}].weight_grams", "must not be negative"))
    codes = [loc.code for loc in locations]
    if len(set(codes)) != len(codes):
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        errors.append(FieldError("locations", f"location code repeated: {', '.join(dupes)}"))
    if errors:
        raise DomainError(ErrorCode.VALIDATION_ERROR, "; ".join(f"{e.field}: {e.reason}" for e in errors), errors)


# --- decision ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutedAllocation:
    """One line, in full, from one location (``inventory.Allocation`` by SKU and code)."""

    line_index: int
    sku: str
    location_code: str
    quantity: int


@dataclass(frozen=True)
class LineOutcome:
    line_index: int
    sku: str
    eligible: bool
    reason: str | None = None  # why not, when not


@dataclass(frozen=True)
class CandidateOutcome:
    """One location as routing saw it: whether it could ship each line and, in a sentence,
    what it could do for the order as a whole."""

    location_code: str
    kind: str
    excluded: str | None  # a reason that rules the location out for every line
    lines: tuple[LineOutcome, ...]
    outcome: str

    @property
    def eligible_lines(self) -> tuple[int, ...]:
        return tuple(lo.line_index for lo in self.lines if lo.eligible)


@dataclass(frozen=True)
class PlannedShipment:
    location_code: str
    line_indexes: tuple[int, ...]
    units: int
    weight_grams: int
    quote: RateQuote
    window: PromiseWindow  # under ship-complete, after waiting for the last parcel (estimated)
    distance_km: Decimal | None
    load: Decimal


@dataclass(frozen=True)
class CostBreakdown:
    """A plan's cost factors (raw) and what each adds to the score (``*_term``)."""

    currency: str
    carrier_cost: Decimal
    delivery_days: int  # from the order date until the order is complete
    distance_km: Decimal
    shipments: int
    load: Decimal  # sum over shipments of the location's load
    carrier_term: Decimal
    transit_term: Decimal
    distance_term: Decimal
    split_term: Decimal
    load_term: Decimal

    @property
    def total(self) -> Decimal:
        return self.carrier_term + self.transit_term + self.distance_term + self.split_term + self.load_term

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "carrier_cost": _num(self.carrier_cost),
            "delivery_days": self.delivery_days,
            "distance_km": str(self.distance_km),
            "shipments": self.shipments,
            "load": str(self.load),
            "terms": {
                "carrier_cost": _num(self.carrier_term),
                "transit_days": _num(self.transit_term),
                "distance": _num(self.distance_term),
                "split_penalty": _num(self.split_term),
                "load": _num(self.load_term),
            },
            "score": _num(self.total),
        }


@dataclass(frozen=True)
class PlanEvaluation:
    label: str  # "WH-DFW" or "split WH-DFW+ST-NYC"
    shipments: tuple[PlannedShipment, ...]
    breakdown: CostBreakdown
    promise: PromiseWindow  # when the customer has everything
    admissible: bool  # False: a split the policy does not allow (kept to explain why)
    outcome: str  # "chosen" or why it lost, in one line

    @property
    def score(self) -> Decimal:
        return self.breakdown.total

    @property
    def location_codes(self) -> tuple[str, ...]:
        return tuple(s.location_code for s in self.shipments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "score": _num(self.score),
            "admissible": self.admissible,
            "outcome": self.outcome,
            "promise": _window_dict(self.promise),
            "breakdown": self.breakdown.to_dict(),
            "shipments": [
                {
                    "location": s.location_code,
                    "lines": list(s.line_indexes),
                    "units": s.units,
                    "weight_grams": s.weight_grams,
                    "carrier": s.quote.carrier,
                    "service_code": s.quote.service_code,
                    "service_level": s.quote.service_level.value,
                    "cost": str(s.quote.cost),
                    "currency": s.quote.currency,
                    "transit_days": [s.quote.transit_days_min, s.quote.transit_days_max],
                    "zone": s.quote.zone,
                    "distance_km": None if s.distance_km is None else str(s.distance_km),
                    "load": str(s.load),
                    "window": _window_dict(s.window),
                }
                for s in self.shipments
            ],
        }


@dataclass(frozen=True)
class SkippedSplit:
    """A way of splitting the order that was never priced: a bound from the lightest parcel
    showed it could not beat the chosen plan (or could not save the days the policy asks)."""

    line_groups: tuple[tuple[int, ...], ...]  # line indexes per shipment
    lower_bound: Decimal  # the least score any plan of this shape could have
    earliest_complete: dt.date  # the earliest it could be complete
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "line_groups": [list(g) for g in self.line_groups],
            "lower_bound": _num(self.lower_bound),
            "earliest_complete": self.earliest_complete.isoformat(),
            "reason": self.reason,
        }


_Explained = tuple[tuple["PlanEvaluation", ...], tuple["CandidateOutcome", ...], tuple[SkippedSplit, ...]]


@dataclass(frozen=True)
class SearchStats:
    method: str  # "exact" or "greedy"
    options_quoted: int  # (block, location) options priced
    plans_scored: int
    partitions_skipped: int  # split shapes whose lower bound could not beat the best plan


@dataclass(frozen=True)
class RoutingDecision:
    """What routing decided and everything needed to explain it later: the rules version,
    every location with its eligibility, each evaluated plan's breakdown and, for every
    loser, why it lost. ``plans[0]`` is the chosen plan."""

    rules_name: str
    rules_version: int
    rule_label: str
    service_level: ServiceLevel
    ranking: str  # "cost" or "fastest"
    fulfilment_mode: FulfilmentMode
    split_policy: SplitPolicy
    order_date: dt.date
    chosen: PlanEvaluation
    allocations: tuple[RoutedAllocation, ...]
    search: SearchStats
    # Builds ``plans`` and ``candidates`` on first use, from what the search kept (immutable
    # values only, never the stock map again): a quote that is only asked for a date does not
    # pay for formatting an explanation.
    _explain: Callable[[], _Explained] = field(repr=False, compare=False)

    @cached_property
    def _explained(self) -> _Explained:
        return self._explain()

    @property
    def skipped_splits(self) -> tuple[SkippedSplit, ...]:
        """Ways of splitting that were ruled out on a bound, without pricing them."""
        return self._explained[2]

    @property
    def plans(self) -> tuple[PlanEvaluation, ...]:
        """Every evaluated plan, best first; ``plans[0]`` is ``chosen``."""
        return self._explained[0]

    @property
    def candidates(self) -> tuple[CandidateOutcome, ...]:
        """Every location given to ``route``, once, in code order."""
        return self._explained[1]

    @property
    def promise(self) -> PromiseWindow:
        return self.chosen.promise

    def allocation_plan(self, product_ids: Mapping[str, int], location_ids: Mapping[str, int]) -> AllocationPlan:
        """The decision in capture's terms (ids instead of SKUs and codes)."""
        return AllocationPlan(
            tuple(
                Allocation(a.line_index, product_ids[a.sku], location_ids[a.location_code], a.quantity)
                for a in self.allocations
            ),
            self.rule_label,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (Decimals and dates as strings) for the order and its page."""
        return {
            "rules": {"name": self.rules_name, "version": self.rules_version},
            "service_level": self.service_level.value,
            "ranking": self.ranking,
            "fulfilment_mode": self.fulfilment_mode.value,
            "split_policy": self.split_policy.value,
            "order_date": self.order_date.isoformat(),
            "chosen": self.chosen.label,
            "promise": _window_dict(self.promise),
            "allocations": [
                {"line_index": a.line_index, "sku": a.sku, "location": a.location_code, "quantity": a.quantity}
                for a in self.allocations
            ],
            "plans": [p.to_dict() for p in self.plans],
            "skipped_splits": [sk.to_dict() for sk in self.skipped_splits],
            "candidates": [_candidate_dict(c) for c in self.candidates],
            "search": {
                "method": self.search.method,
                "options_quoted": self.search.options_quoted,
                "plans_scored": self.search.plans_scored,
                "partitions_skipped": self.search.partitions_skipped,
            },
        }


_CENT = Decimal("0.01")


def _num(d: Decimal) -> str:
    """A score or cost as text: two decimals when that is exact, else every digit it has."""
    q = d.quantize(_CENT)
    return str(q) if q == d else str(d.normalize())


def _window_dict(w: PromiseWindow) -> dict[str, str]:
    return {
        "ship_date": w.ship_date.isoformat(),
        "earliest": w.earliest.isoformat(),
        "latest": w.latest.isoformat(),
        "basis": w.basis,
    }


def _candidate_dict(c: CandidateOutcome) -> dict[str, Any]:
    """Compact: a location excluded outright has one reason for every line; otherwise only
    the lines it cannot ship carry a reason."""
    return {
        "location": c.location_code,
        "kind": c.kind,
        "outcome": c.outcome,
        "excluded": c.excluded,
        "eligible_lines": [lo.line_index for lo in c.lines if lo.eligible],
        "ineligible_lines": []
        if c.excluded is not None
        else [{"line_index": lo.line_index, "reason": lo.reason} for lo in c.lines if not lo.eligible],
    }


class NoRoutingPlan(InsufficientStock):
    """Every line has stock somewhere, but no plan the rules allow ships them all (splitting
    not allowed, too many shipments needed, lines competing for the same stock or capacity,
    or no carrier service). Same code and shape as ``InsufficientStock``, so the API's 409
    does not change; ``why`` says which."""

    def __init__(self, shortages: Sequence[Shortage], why: str, candidates: Sequence[CandidateOutcome]) -> None:
        super().__init__(shortages)
        self.message = f"{why}: " + "; ".join(f"{s.sku} short by {s.requested - s.available}" for s in shortages)
        self.args = (self.message,)
        self.why = why
        self.candidates = tuple(candidates)


# --- the engine -------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _partitions(n: int, max_blocks: int) -> tuple[tuple[int, ...], ...]:
    """Set partitions of ``n`` lines into 2..max_blocks blocks, each a tuple of bit masks."""
    out: list[tuple[int, ...]] = []

    def grow(i: int, blocks: list[int]) -> None:
        if i == n:
            if len(blocks) >= 2:
                out.append(tuple(blocks))
            return
        bit = 1 << i
        for j in range(len(blocks)):
            blocks[j] |= bit
            grow(i + 1, blocks)
            blocks[j] &= ~bit
        if len(blocks) < max_blocks:
            blocks.append(bit)
            grow(i + 1, blocks)
            blocks.pop()

    grow(0, [])
    return tuple(out)


class _Option:
    """One block of lines from one location, priced and dated (internal, hot path)."""

    __slots__ = (
        "carrier",
        "code",
        "cost",
        "distance",
        "distance_km",
        "earliest",
        "latest",
        "li",
        "mask",
        "quote",
        "ship",
        "span",
        "units",
        "weight",
        "window",
    )

    def __init__(
        self,
        li: int,
        code: str,
        mask: int,
        units: int,
        weight: int,
        quote: RateQuote,
        window: PromiseWindow,
        carrier: Decimal,
        distance: Decimal,
        distance_km: Decimal | None,
        cost: Decimal,
    ) -> None:
        self.li = li
        self.code = code
        self.mask = mask
        self.units = units
        self.weight = weight
        self.quote = quote
        self.window = window
        self.carrier = carrier
        self.distance = distance
        self.distance_km = distance_km
        self.cost = cost  # carrier + distance + load terms: everything additive over shipments
        self.ship = window.ship_date.toordinal()
        self.earliest = window.earliest.toordinal()
        self.latest = window.latest.toordinal()
        self.span = self.latest - self.ship


# The picked quote, its promise, and the cheapest quote's cost, per (location, weight).
_Priced = tuple[RateQuote, PromiseWindow, Decimal]
# A plan's sort key: cost ranking (score, shipments, complete date, codes); fastest ranking
# (complete date, score, shipments, codes). Smaller is better.
_Key = tuple[Any, ...]
_Plan = tuple[_Key, tuple[_Option, ...]]


class _Router:
    def __init__(
        self,
        request: RoutingRequest,
        stock: StockMap,
        locations: Sequence[LocationProfile],
        rules: SourcingRules,
        quote: QuoteFn,
        promise: PromiseFn,
        monotone_rates: bool,
    ) -> None:
        self.request = request
        self.rules = rules
        self.quote_fn = quote
        self.promise_fn = promise
        self.lines = tuple(request.lines)
        self.n = len(self.lines)
        self.full = (1 << self.n) - 1
        self.locs = sorted(locations, key=lambda loc: loc.code)
        self.fastest = request.service_level in rules.fastest_first
        self.complete = rules.fulfilment_mode == FulfilmentMode.SHIP_COMPLETE
        w = rules.weights
        self.w = w
        self.ref = request.order_date.toordinal()
        self.quoted: dict[tuple[int, int], _Priced | str] = {}
        self.options: dict[tuple[int, int], _Option | None] = {}
        self.option_fail: dict[tuple[int, int], str] = {}
        self.block_cache: dict[int, list[_Option]] = {}
        self.units_cache: dict[int, tuple[int, int]] = {}
        self.plans_scored = 0
        self.partitions_skipped = 0
        self.monotone_rates = monotone_rates
        self.floors: dict[int, tuple[Decimal, int]] = {}
        self.block_floors: dict[int, tuple[Decimal, int] | None] = {}
        self.floor_weight = min(ln.quantity * ln.weight_grams for ln in request.lines)
        # partitions never priced: (blocks, lower-bound prefix, earliest complete, over the cap)
        self.skipped: list[tuple[tuple[int, ...], _Key, int, bool]] = []
        skus = [ln.sku for ln in self.lines]
        self.has_duplicate_skus = len(set(skus)) != len(skus)
        self.stock = stock
        self._eligibility()

    # -- eligibility ---------------------------------------------------------------------------

    def _eligibility(self) -> None:
        rules = self.rules
        channel = self.request.channel
        stock = self.stock
        lines = self.lines
        hazmat_rule = rules.hazmat_requires_license
        secure_rule = rules.high_value_requires_secure
        self.loc_reason: list[str | None] = []
        # per location, {line position: (why, number)}; formatted only for the explanation
        self.line_fails: list[dict[int, tuple[int, int]]] = []
        self.line_mask: list[int] = []
        for loc in self.locs:
            reason: str | None = None
            if not loc.ships:
                reason = "does not ship"
            elif loc.kind not in rules.allowed_kinds:
                reason = f"{loc.kind} locations may not ship under rules {rules.name} v{rules.version}"
            elif loc.channels is not None and channel not in loc.channels:
                reason = f"closed to channel {channel}"
            self.loc_reason.append(reason)
            fails: dict[int, tuple[int, int]] = {}
            self.line_fails.append(fails)
            if reason is not None:
                self.line_mask.append(0)
                continue
            mask = 0
            code = loc.code
            cap = loc.capacity_left_today
            for i, line in enumerate(lines):
                if line.hazmat and hazmat_rule and not loc.hazmat_licensed:
                    fails[i] = (_NOT_HAZMAT, 0)
                elif line.high_value and secure_rule and not loc.secure:
                    fails[i] = (_NOT_SECURE, 0)
                else:
                    have = stock.get((line.sku, code), 0)
                    if have < line.quantity:
                        fails[i] = (_SHORT, have)
                    elif cap is not None and cap < line.quantity:
                        fails[i] = (_CAPACITY, cap)
                    else:
                        mask |= 1 << i
            self.line_mask.append(mask)
        self.loc_terms: list[tuple[Decimal, Decimal | None, Decimal, Decimal] | None] = [None] * len(self.locs)

    def _line_reason(self, li: int, i: int) -> str | None:
        reason = self.loc_reason[li]
        if reason is not None:
            return reason
        fail = self.line_fails[li].get(i)
        if fail is None:
            return None
        why, number = fail
        line = self.lines[i]
        if why == _NOT_HAZMAT:
            return "not hazmat-licensed"
        if why == _NOT_SECURE:
            return "not secure for high-value goods"
        if why == _SHORT:
            return (
                f"no stock of {line.sku}" if number <= 0 else f"{number} of {line.sku} in stock < {line.quantity} units"
            )
        return f"capacity left {max(number, 0)} < {line.quantity} units"

    def _terms(self, li: int) -> tuple[Decimal, Decimal | None, Decimal, Decimal]:
        """(distance term, km, load, load term) of a location. The distance is the great
        circle between the location's and the address's points; without both points it is
        unknown here (``km`` None) and each option takes its quote's ``distance_km``."""
        terms = self.loc_terms[li]
        if terms is None:
            loc = self.locs[li]
            km: Decimal | None = None
            dest = self.request.destination.point
            if loc.point is not None and dest is not None:
                km = Decimal(f"{great_circle_km(loc.point, dest):.1f}")
            distance = _ZERO if km is None else self.w.per_100_km * km / _HUNDRED
            load = Decimal(f"{max(loc.load, 0.0):.2f}")
            terms = self.loc_terms[li] = (distance, km, load, self.w.load * load)
        return terms

    # -- options -------------------------------------------------------------------------------

    def _units(self, mask: int) -> tuple[int, int]:
        got = self.units_cache.get(mask)
        if got is None:
            units = weight = 0
            for i, line in enumerate(self.lines):
                if mask >> i & 1:
                    units += line.quantity
                    weight += line.quantity * line.weight_grams
            got = self.units_cache[mask] = (units, weight)
        return got

    def _block_stock_problem(self, mask: int, li: int) -> str | None:
        """Lines of the same SKU share one stock row: their sum must fit."""
        need: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            if mask >> i & 1:
                need[line.sku] = need.get(line.sku, 0) + line.quantity
        code = self.locs[li].code
        for sku, units in need.items():
            have = self.stock.get((sku, code), 0)
            if have < units:
                return f"{have} of {sku} in stock < {units} units for these lines together"
        return None

    def option(self, mask: int, li: int) -> _Option | None:
        key = (mask, li)
        try:
            return self.options[key]
        except KeyError:
            opt = self.options[key] = self._make_option(mask, li)
            return opt

    def _make_option(self, mask: int, li: int) -> _Option | None:
        loc = self.locs[li]
        units, weight = self._units(mask)
        cap = loc.capacity_left_today
        if cap is not None and cap < units:
            self.option_fail[(mask, li)] = f"capacity left {max(cap, 0)} < {units} units"
            return None
        if self.has_duplicate_skus:
            problem = self._block_stock_problem(mask, li)
            if problem is not None:
                self.option_fail[(mask, li)] = problem
                return None
        got = self.quoted.get((li, weight))
        if got is None:
            got = self.quoted[(li, weight)] = self._quote(loc, weight)
        if isinstance(got, str):
            self.option_fail[(mask, li)] = got
            return None
        q, window, _ = got
        carrier = self.w.carrier_cost * q.cost
        distance, km, _, load_term = self.loc_terms[li] or self._terms(li)
        if km is None and q.distance_km is not None:
            km = Decimal(f"{q.distance_km:.1f}")
            distance = self.w.per_100_km * km / _HUNDRED
        return _Option(
            li, loc.code, mask, units, weight, q, window, carrier, distance, km, carrier + distance + load_term
        )

    def _quote(self, loc: LocationProfile, weight: int) -> _Priced | str:
        """The service the rules pick from the location's quotes, its promise, and the
        cheapest of the quotes (for the lower bound)."""
        quotes = self.quote_fn(loc, self.request.destination, weight, self.request.service_level)
        currency = self.rules.currency
        if len(quotes) == 1 and quotes[0].currency == currency:
            best = quotes[0]
            cheapest = best.cost
        else:
            if not quotes:
                return f"no {self.request.service_level.value} carrier service to {_place(self.request.destination)}"
            usable = [q for q in quotes if q.currency == currency]
            if not usable:
                return f"quotes in {quotes[0].currency}, rules are in {currency}"
            best = min(usable, key=_fastest_quote if self.fastest else _cheapest_quote)
            cheapest = min(q.cost for q in usable)
        return best, self.promise_fn(loc, best), cheapest

    def block_options(self, mask: int) -> list[_Option]:
        """Every location's option for ``mask``, cheapest first (ties by code)."""
        got = self.block_cache.get(mask)
        if got is None:
            got = []
            for li, lm in enumerate(self.line_mask):
                if lm & mask == mask and self.loc_reason[li] is None:
                    opt = self.option(mask, li)
                    if opt is not None:
                        got.append(opt)
            got.sort(key=lambda o: (o.cost, o.code))
            self.block_cache[mask] = got
        return got

    # -- plans ---------------------------------------------------------------------------------

    def completion(self, opts: Sequence[_Option]) -> tuple[int, int, int]:
        """(ship, earliest, latest) ordinals of the order as a whole."""
        if len(opts) == 1:
            o = opts[0]
            return o.ship, o.earliest, o.latest
        if self.complete:
            hold = max(o.ship for o in opts)
            return hold, hold + max(o.earliest - o.ship for o in opts), hold + max(o.span for o in opts)
        return max(o.ship for o in opts), max(o.earliest for o in opts), max(o.latest for o in opts)

    def key(self, opts: Sequence[_Option]) -> _Key:
        self.plans_scored += 1
        k = len(opts)
        latest = self.completion(opts)[2]
        score = sum((o.cost for o in opts), _ZERO) + self.w.extra_shipment * (k - 1)
        score += self.w.transit_day * (latest - self.ref)
        codes = tuple(sorted(o.code for o in opts))
        if self.fastest:
            return (latest, score, k, codes)
        return (score, k, latest, codes)

    def _prefix(self, latest_lb: int, cost_lb: Decimal, k: int) -> _Key:
        score = cost_lb + self.w.extra_shipment * (k - 1) + self.w.transit_day * (latest_lb - self.ref)
        return (latest_lb, score, k) if self.fastest else (score, k)

    def _beaten(self, prefix: _Key, best: _Key | None) -> bool:
        return best is not None and prefix > best[: len(prefix)]

    # -- search --------------------------------------------------------------------------------

    def singles(self) -> list[_Plan]:
        plans: list[_Plan] = []
        for li, lm in enumerate(self.line_mask):
            if lm == self.full and self.loc_reason[li] is None:
                opt = self.option(self.full, li)
                if opt is not None:
                    plans.append((self.key((opt,)), (opt,)))
        plans.sort(key=lambda p: p[0])
        return plans

    def exact_splits(self, best: _Key | None, cap: int | None) -> tuple[list[_Plan], list[_Plan]]:
        """(best admissible plan of each partition that was searched, representatives of the
        priced partitions that had none: over the cap, or beaten on their lower bound).
        Partitions whose floor bound is beaten are not priced at all (``self.skipped``)."""
        found: list[_Plan] = []
        shown: list[_Plan] = []
        max_blocks = min(self.rules.max_shipments, self.n)
        for partition in _partitions(self.n, max_blocks):
            k = len(partition)
            if self.monotone_rates and (best is not None or cap is not None):
                floors = [self._block_floor(m) for m in partition]
                if any(f is None for f in floors):
                    continue  # some block has no location able to ship it
                latest_lb = max(f[1] for f in floors if f is not None)
                cost_lb = sum((f[0] for f in floors if f is not None), _ZERO)
                prefix = self._prefix(latest_lb, cost_lb, k)
                if (cap is not None and latest_lb > cap) or self._beaten(prefix, best):
                    self.partitions_skipped += 1
                    self.skipped.append((partition, prefix, latest_lb, cap is not None and latest_lb > cap))
                    continue
            lists = [self.block_options(m) for m in partition]
            if not all(lists):
                continue
            latest_lb = max(min(o.latest for o in lst) for lst in lists)
            prefix = self._prefix(latest_lb, sum((lst[0].cost for lst in lists), _ZERO), k)
            part_best: _Plan | None = None
            if (cap is not None and latest_lb > cap) or self._beaten(prefix, best):
                self.partitions_skipped += 1
            else:
                part_best = self._search_partition(lists, k, best, cap)
            if part_best is not None:
                found.append(part_best)
                if best is None or part_best[0] < best:
                    best = part_best[0]
            else:
                rep = tuple(lst[0] for lst in lists)
                if len({o.li for o in rep}) == k:
                    shown.append((self.key(rep), rep))
        return found, shown

    def _block_floor(self, mask: int) -> tuple[Decimal, int] | None:
        """A lower bound on (cost, complete date) of any option for block ``mask``, without
        pricing it: the cheapest quote any location gives for the lightest parcel the order
        can make, and the earliest ship date. Sound when a heavier parcel never costs less
        than that cheapest quote (``monotone_rates``)."""
        if mask in self.block_floors:
            return self.block_floors[mask]
        cost: Decimal | None = None
        latest = 0
        floors = self.floors
        for li, lm in enumerate(self.line_mask):
            if lm & mask != mask:  # excluded locations have no lines at all
                continue
            floor = floors.get(li)
            if floor is None:
                floor = floors[li] = self._floor(li)
            if cost is None:
                cost, latest = floor
            else:
                if floor[0] < cost:
                    cost = floor[0]
                if floor[1] < latest:
                    latest = floor[1]
        got = self.block_floors[mask] = None if cost is None else (cost, latest)
        return got

    def _floor(self, li: int) -> tuple[Decimal, int]:
        weight = self.floor_weight
        priced = self.quoted.get((li, weight))
        if priced is None:
            priced = self.quoted[(li, weight)] = self._quote(self.locs[li], weight)
        if isinstance(priced, str):  # nothing for the lightest parcel: no bound but zero
            return _ZERO, self.ref - 1
        _, window, cheapest = priced
        # Any parcel from here costs at least the cheapest quote for the lightest parcel
        # (prices never fall with weight, services only drop out as it grows), and leaves
        # no earlier than the location's ship date, whichever service it goes by (a heavy
        # parcel may be upgraded to a faster service, so its arrival is no bound). Only a
        # distance known without a quote bounds every option of the location.
        distance, _, _, load_term = self.loc_terms[li] or self._terms(li)
        return self.w.carrier_cost * cheapest + distance + load_term, window.ship_date.toordinal()

    def _search_partition(self, lists: list[list[_Option]], k: int, best: _Key | None, cap: int | None) -> _Plan | None:
        """The best plan of one partition with complete date <= ``cap``, or None when it
        cannot beat ``best``.

        For any thresholds on the options' dates, an optimal plan among the options within
        them uses, for each block, one of its ``k`` cheapest such options (k blocks take k
        distinct locations, so a cheaper free one is always left to swap in). Trying every
        threshold met by some option therefore meets the optimum's own dates and finds it.
        """
        if self.complete:
            coords = [sorted({o.ship for lst in lists for o in lst}), sorted({o.span for lst in lists for o in lst})]
        else:
            coords = [sorted({o.latest for lst in lists for o in lst})]
        part_best: _Plan | None = None
        seen: set[tuple[int, ...]] = set()
        for thr in itertools.product(*coords):
            tops: list[list[_Option]] = []
            for lst in lists:
                top: list[_Option] = []
                for o in lst:
                    if (o.ship <= thr[0] and o.span <= thr[1]) if self.complete else o.latest <= thr[0]:
                        top.append(o)
                        if len(top) == k:
                            break
                if not top:
                    break
                tops.append(top)
            else:
                sig = tuple(id(o) for top in tops for o in top)
                if sig in seen:
                    continue
                seen.add(sig)
                latest_lb = max(min(o.latest for o in top) for top in tops)
                if cap is not None and latest_lb > cap:
                    continue
                if self._beaten(self._prefix(latest_lb, sum((top[0].cost for top in tops), _ZERO), k), best):
                    continue
                for combo in itertools.product(*tops):
                    if len({o.li for o in combo}) < k:
                        continue
                    if cap is not None and self.completion(combo)[2] > cap:
                        continue
                    key = self.key(combo)
                    if part_best is None or key < part_best[0]:
                        part_best = (key, combo)
                    if best is None or key < best:
                        best = key
        return part_best

    def greedy_splits(self, cap: int | None) -> list[_Plan]:
        """Long orders: from each of a few good starting locations, cover the remaining lines
        with the location that ships most of them, up to ``max_shipments``."""
        usable = [li for li in range(len(self.locs)) if self.loc_reason[li] is None and self.line_mask[li]]
        starts = sorted(
            usable,
            key=lambda li: (-self.line_mask[li].bit_count(), self.locs[li].code),
        )[:GREEDY_STARTS]
        plans: list[_Plan] = []
        seen: set[tuple[tuple[int, int], ...]] = set()
        for start in starts:
            remaining = self.full
            blocks: list[tuple[int, int]] = []
            used: set[int] = set()
            li: int | None = start
            while li is not None and remaining and len(blocks) < self.rules.max_shipments:
                block = self._fill(li, remaining)
                if block:
                    blocks.append((block, li))
                    remaining &= ~block
                used.add(li)
                choices = [c for c in usable if c not in used and self.line_mask[c] & remaining]
                li = (
                    min(choices, key=lambda c: (-(self.line_mask[c] & remaining).bit_count(), self.locs[c].code))
                    if choices
                    else None
                )
            if remaining or len(blocks) < 2:
                continue
            sig = tuple(sorted(blocks))
            if sig in seen:
                continue
            seen.add(sig)
            opts = [self.option(mask, li) for mask, li in blocks]
            if any(o is None for o in opts):
                continue
            combo = tuple(o for o in opts if o is not None)
            if cap is not None and self.completion(combo)[2] > cap:
                continue
            plans.append((self.key(combo), combo))
        return plans

    def _fill(self, li: int, remaining: int) -> int:
        """The lines of ``remaining`` that ``li`` can ship together, in line order."""
        loc = self.locs[li]
        cap = loc.capacity_left_today
        left: dict[str, int] = {}
        mask = 0
        units = 0
        for i, line in enumerate(self.lines):
            if not (remaining >> i & 1 and self.line_mask[li] >> i & 1):
                continue
            have = left.get(line.sku, self.stock.get((line.sku, loc.code), 0))
            if have < line.quantity or (cap is not None and units + line.quantity > cap):
                continue
            left[line.sku] = have - line.quantity
            units += line.quantity
            mask |= 1 << i
        return mask

    # -- the decision --------------------------------------------------------------------------

    def run(self) -> RoutingDecision:
        singles = self.singles()
        self.best_single = singles[0] if singles else None
        policy = self.rules.split_policy
        cap: int | None = None
        if policy == SplitPolicy.MIN_DAYS_SAVED and self.best_single is not None:
            cap = self.completion(self.best_single[1])[2] - self.rules.split_min_days_saved
        splits: list[_Plan] = []
        shown: list[_Plan] = []
        method = "exact"
        may_split = policy != SplitPolicy.NEVER and self.rules.max_shipments >= 2 and self.n >= 2
        if may_split and self._all_lines_coverable():
            if self.n <= EXACT_MAX_LINES:
                splits, shown = self.exact_splits(self.best_single[0] if self.best_single else None, cap)
            else:
                method = "greedy"
                splits = self.greedy_splits(cap)
        # Representatives of partitions without an admissible plan: shown to explain why no
        # split won; those over the cap are not allowed by the policy.
        splits += [p for p in shown if self._within_cap(p, cap)]
        rejected = sorted((p for p in shown if not self._within_cap(p, cap)), key=lambda p: p[0])
        admissible = sorted(singles + splits, key=lambda p: p[0])
        if not admissible:
            raise self._no_plan(may_split)
        chosen = admissible[0]
        chosen_eval = self._evaluate(chosen, True, "chosen")
        allocations = tuple(
            sorted(
                (
                    RoutedAllocation(self.lines[i].line_index, self.lines[i].sku, o.code, self.lines[i].quantity)
                    for o in chosen[1]
                    for i in range(self.n)
                    if o.mask >> i & 1
                ),
                key=lambda a: a.line_index,
            )
        )

        def explain() -> _Explained:
            split_losers = [p for p in admissible[1:] if len(p[1]) > 1]
            kept_splits = (split_losers + rejected)[:MAX_SPLIT_PLANS_EXPLAINED]
            rejected_ids = {id(p) for p in rejected}
            losers = sorted([p for p in admissible[1:] if len(p[1]) == 1] + kept_splits, key=lambda p: p[0])
            evaluations = [chosen_eval]
            for plan in losers:
                draft = self._evaluate(plan, id(plan) not in rejected_ids, "")
                evaluations.append(_with_outcome(draft, self._why_lost(draft, chosen_eval, plan, chosen)))
            return tuple(evaluations), self.candidates(), self._skipped_splits(chosen_eval)

        return RoutingDecision(
            rules_name=self.rules.name,
            rules_version=self.rules.version,
            rule_label=self.rules.rule_label,
            service_level=self.request.service_level,
            ranking="fastest" if self.fastest else "cost",
            fulfilment_mode=self.rules.fulfilment_mode,
            split_policy=policy,
            order_date=self.request.order_date,
            chosen=chosen_eval,
            allocations=allocations,
            search=SearchStats(method, len(self.quoted), self.plans_scored, self.partitions_skipped),
            _explain=explain,
        )

    def _skipped_splits(self, chosen: PlanEvaluation) -> tuple[SkippedSplit, ...]:
        out = []
        for blocks, prefix, latest_lb, over_cap in self.skipped:
            groups = tuple(
                tuple(self.lines[i].line_index for i in range(self.n) if m >> i & 1)
                for m in sorted(blocks, key=lambda m: m & -m)
            )
            shape = " | ".join("+".join(str(i + 1) for i in g) for g in groups)  # line numbers, from 1
            score = prefix[1] if self.fastest else prefix[0]
            earliest = dt.date.fromordinal(max(latest_lb, self.ref))
            if over_cap:
                reason = (
                    f"lines {shape} apart: complete {_day(earliest)} at the earliest, not "
                    f"{_days(self.rules.split_min_days_saved)} before the best single-location plan"
                )
            elif self.fastest and latest_lb > chosen.promise.latest.toordinal():
                reason = f"lines {shape} apart: complete {_day(earliest)} at the earliest, after the chosen plan"
            else:
                reason = (
                    f"lines {shape} apart: at least {score:.2f} with split penalty "
                    f"{self.w.extra_shipment * (len(blocks) - 1):.2f}, cannot beat the chosen {chosen.score:.2f}"
                )
            out.append(SkippedSplit(groups, score, earliest, reason))
        return tuple(out)

    def _load(self, o: _Option) -> Decimal:
        terms = self.loc_terms[o.li]
        assert terms is not None  # set when the option was priced
        return terms[2]

    def _within_cap(self, plan: _Plan, cap: int | None) -> bool:
        return cap is None or self.completion(plan[1])[2] <= cap

    def _all_lines_coverable(self) -> bool:
        union = 0
        for li, lm in enumerate(self.line_mask):
            if self.loc_reason[li] is None:
                union |= lm
        return union == self.full

    def _evaluate(self, plan: _Plan, admissible: bool, outcome: str) -> PlanEvaluation:
        opts = sorted(plan[1], key=lambda o: o.code)
        k = len(opts)
        ship, earliest, latest = self.completion(opts)
        w = self.w
        shipments = []
        for o in opts:
            window = o.window
            if self.complete and k > 1 and o.ship < ship:
                wait = ship - o.ship
                window = PromiseWindow(
                    dt.date.fromordinal(ship),
                    dt.date.fromordinal(o.earliest + wait),
                    dt.date.fromordinal(o.latest + wait),
                    f"{o.window.basis} Held {wait} day(s) to leave with the rest of the order (ship complete; "
                    "estimated).",
                )
            shipments.append(
                PlannedShipment(
                    o.code,
                    tuple(self.lines[i].line_index for i in range(self.n) if o.mask >> i & 1),
                    o.units,
                    o.weight,
                    o.quote,
                    window,
                    o.distance_km,
                    self._load(o),
                )
            )
        if k == 1:
            promise = shipments[0].window
        else:
            d = dt.date.fromordinal
            how = "held to leave together (ship complete)" if self.complete else "each leaving when ready"
            promise = PromiseWindow(
                d(ship), d(earliest), d(latest), f"{k} shipments {how}; complete when the last one arrives."
            )
        delivery_days = latest - self.ref
        breakdown = CostBreakdown(
            currency=self.rules.currency,
            carrier_cost=sum((o.quote.cost for o in opts), _ZERO),
            delivery_days=delivery_days,
            distance_km=sum((o.distance_km for o in opts if o.distance_km is not None), _ZERO),
            shipments=k,
            load=sum((self._load(o) for o in opts), _ZERO),
            carrier_term=sum((o.carrier for o in opts), _ZERO),
            transit_term=w.transit_day * delivery_days,
            distance_term=sum((o.distance for o in opts), _ZERO),
            split_term=w.extra_shipment * (k - 1),
            load_term=sum((o.cost - o.carrier - o.distance for o in opts), _ZERO),
        )
        label = opts[0].code if k == 1 else "split " + "+".join(o.code for o in opts)
        return PlanEvaluation(label, tuple(shipments), breakdown, promise, admissible, outcome)

    def _why_lost(self, loser: PlanEvaluation, winner: PlanEvaluation, lplan: _Plan, wplan: _Plan) -> str:
        head = loser.label
        lb, wb = loser.breakdown, winner.breakdown
        if not loser.admissible:
            single = self.best_single[1][0].latest if self.best_single else loser.promise.latest.toordinal()
            saved = max(single - loser.promise.latest.toordinal(), 0)
            return (
                f"{head}: saves {_days(saved)} over the best single-location plan, "
                f"rules require {_days(self.rules.split_min_days_saved)}"
            )
        later = f"({_day(loser.promise.latest)} vs {_day(winner.promise.latest)})"
        if self.fastest and lb.delivery_days != wb.delivery_days:
            return f"{head}: complete {_days(lb.delivery_days - wb.delivery_days)} later {later}"
        if lb.total != wb.total:
            return f"{head}: {_cost_reason(lb, wb)} (score {lb.total:.2f} vs {wb.total:.2f})"
        if lb.shipments != wb.shipments:
            return f"{head}: same score, {lb.shipments} shipments instead of {wb.shipments}"
        if loser.promise.latest != winner.promise.latest:
            return f"{head}: same score, complete later {later}"
        return (
            f"{head}: same score and date; tie broken by location code "
            f"({'+'.join(lplan[0][-1])} sorts after {'+'.join(wplan[0][-1])})"
        )

    # -- explanation of eligibility ------------------------------------------------------------

    def candidates(self) -> tuple[CandidateOutcome, ...]:
        out = []
        shared: dict[tuple[int, str | None], LineOutcome] = {}  # equal outcomes are one object

        def outcome_of(i: int, reason: str | None) -> LineOutcome:
            got = shared.get((i, reason))
            if got is None:
                ln = self.lines[i]
                got = shared[(i, reason)] = LineOutcome(ln.line_index, ln.sku, reason is None, reason)
            return got

        for li, loc in enumerate(self.locs):
            reason = self.loc_reason[li]
            mask = self.line_mask[li]
            fails = self.line_fails[li]
            if reason is None and not fails:
                lines = tuple(outcome_of(i, None) for i in range(self.n))
            else:
                lines = tuple(outcome_of(i, self._line_reason(li, i)) for i in range(self.n))
            if reason is not None:
                outcome = f"excluded: {reason}"
            elif mask == self.full:
                fail = self.option_fail.get((self.full, li))
                outcome = "can ship the whole order" if fail is None else f"cannot ship the whole order: {fail}"
            elif mask:
                idx = ", ".join(str(ln.line_index + 1) for i, ln in enumerate(self.lines) if mask >> i & 1)
                outcome = f"can ship line{'s' if mask.bit_count() > 1 else ''} {idx} only"
            else:
                outcome = "can ship none of the lines"
            out.append(CandidateOutcome(loc.code, loc.kind, reason, lines, outcome))
        return tuple(out)

    def _product_ok(self, line: RoutingLine, loc: LocationProfile) -> bool:
        if line.hazmat and self.rules.hazmat_requires_license and not loc.hazmat_licensed:
            return False
        return not (line.high_value and self.rules.high_value_requires_secure and not loc.secure)

    def _no_plan(self, may_split: bool) -> InsufficientStock:
        """The refusal: lines no open location can ship at all are short by what the best
        location has; otherwise (the rules, not the stock, stand in the way) the lines that
        the location able to ship most of the order cannot take."""
        open_locs = [li for li in range(len(self.locs)) if self.loc_reason[li] is None]
        uncovered = [i for i in range(self.n) if not any(self.line_mask[li] >> i & 1 for li in open_locs)]
        if uncovered:
            shortages = []
            for i in uncovered:
                line = self.lines[i]
                available = 0
                for li in open_locs:
                    loc = self.locs[li]
                    if self._product_ok(line, loc):
                        have = max(self.stock.get((line.sku, loc.code), 0), 0)
                        if loc.capacity_left_today is not None:
                            have = min(have, max(loc.capacity_left_today, 0))
                        available = max(available, have)
                shortages.append(Shortage(line.line_index, line.sku, line.quantity, min(available, line.quantity - 1)))
            return InsufficientStock(shortages)
        fits = {li: self._fill(li, self.full) for li in open_locs}
        li = min(
            open_locs,
            key=lambda c: (-fits[c].bit_count(), -self._units(fits[c])[0], self.locs[c].code),
        )
        loc = self.locs[li]
        fit = fits[li]
        rules = f"rules {self.rules.name} v{self.rules.version}"
        if fit == self.full:  # everything fits at one location, but no carrier takes the parcel
            why = f"No location can ship the order to {_place(self.request.destination)} under {rules}: " + (
                self.option_fail.get((self.full, li)) or "no carrier service"
            )
            shortages = [Shortage(ln.line_index, ln.sku, ln.quantity, 0) for ln in self.lines]
            return NoRoutingPlan(shortages, why, self.candidates())
        units_left = None if loc.capacity_left_today is None else loc.capacity_left_today - self._units(fit)[0]
        stock_left: dict[str, int] = {}
        for i, line in enumerate(self.lines):
            stock_left.setdefault(line.sku, max(self.stock.get((line.sku, loc.code), 0), 0))
            if fit >> i & 1:
                stock_left[line.sku] -= line.quantity
        shortages = []
        for i, line in enumerate(self.lines):
            if fit >> i & 1:
                continue
            available = stock_left[line.sku] if self._product_ok(line, loc) else 0
            if units_left is not None:
                available = min(available, max(units_left, 0))
            shortages.append(
                Shortage(line.line_index, line.sku, line.quantity, max(min(available, line.quantity - 1), 0))
            )
        if self.rules.split_policy == SplitPolicy.NEVER:
            why = f"No single location can ship the whole order and {rules} never split orders"
        elif not may_split:
            why = f"No single location can ship the whole order and {rules} allow one shipment per order"
        else:
            why = (
                f"No plan within {rules} (at most {self.rules.max_shipments} shipments) ships every line: "
                "lines compete for the same stock or capacity, or no carrier serves the address"
            )
        return NoRoutingPlan(shortages, why, self.candidates())


def _cheapest_quote(q: RateQuote) -> tuple[Any, ...]:
    return (q.cost, q.transit_days_max, q.transit_days_min, q.carrier, q.service_code)


def _fastest_quote(q: RateQuote) -> tuple[Any, ...]:
    return (q.transit_days_max, q.transit_days_min, q.cost, q.carrier, q.service_code)


def _with_outcome(plan: PlanEvaluation, outcome: str) -> PlanEvaluation:
    return PlanEvaluation(plan.label, plan.shipments, plan.breakdown, plan.promise, plan.admissible, outcome)


_TERMS = ("carrier", "transit", "distance", "split", "load")


def _cost_reason(loser: CostBreakdown, winner: CostBreakdown) -> str:
    """What cost the loser most (and the next factor too when it weighs at least half as
    much), and what it had going for it when that was worth mentioning: at least a quarter
    of its biggest handicap."""
    deltas = {
        "carrier": loser.carrier_term - winner.carrier_term,
        "transit": loser.transit_term - winner.transit_term,
        "distance": loser.distance_term - winner.distance_term,
        "split": loser.split_term - winner.split_term,
        "load": loser.load_term - winner.load_term,
    }
    gap = loser.total - winner.total
    worse = sorted((t for t in _TERMS if deltas[t] > 0), key=lambda t: (-deltas[t], _TERMS.index(t)))
    if not worse:  # pragma: no cover - a higher total has a larger term
        return f"{gap:.2f} more in total"
    parts = [_worse_phrase(worse[0], deltas[worse[0]], loser, winner)]
    if len(worse) > 1 and deltas[worse[1]] * 2 >= deltas[worse[0]]:
        parts.append(_worse_phrase(worse[1], deltas[worse[1]], loser, winner))
    text = " and ".join(parts)
    better = min(_TERMS, key=lambda t: (deltas[t], _TERMS.index(t)))
    gain = -deltas[better]
    if gain > 0 and gain * 4 >= deltas[worse[0]]:
        text += " outweighs " + _better_phrase(better, gain, loser, winner)
    return text


def _worse_phrase(term: str, amount: Decimal, loser: CostBreakdown, winner: CostBreakdown) -> str:
    if term == "carrier":
        return f"{amount:.2f} more in carrier cost"
    if term == "transit":
        return f"{_days(loser.delivery_days - winner.delivery_days)} later ({amount:.2f} in transit time)"
    if term == "distance":
        return f"{loser.distance_km - winner.distance_km:.0f} km farther ({amount:.2f} in distance)"
    if term == "split":
        return f"split penalty {amount:.2f}"
    return f"busier location{'s' if loser.shipments > 1 else ''} ({amount:.2f} in load)"


def _better_phrase(term: str, gain: Decimal, loser: CostBreakdown, winner: CostBreakdown) -> str:
    if term == "carrier":
        return f"{gain:.2f} less carrier cost"
    if term == "transit":
        return f"{_days(winner.delivery_days - loser.delivery_days)} saved"
    if term == "distance":
        return f"{winner.distance_km - loser.distance_km:.0f} km less"
    if term == "split":
        return "fewer shipments"
    return f"{gain:.2f} less in load"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _day(d: dt.date) -> str:
    return d.strftime("%a %d %b")


def _place(a: Address) -> str:
    return " ".join(p for p in (a.postal_code, a.country) if p)


def route(
    request: RoutingRequest,
    stock: StockMap,
    locations: Sequence[LocationProfile],
    rules: SourcingRules,
    quote: QuoteFn,
    promise: PromiseFn,
    *,
    monotone_rates: bool = True,
) -> RoutingDecision:
    """Decide which location ships each line of ``request``, or raise ``InsufficientStock``
    naming the short lines. Deterministic: the same inputs always give the same decision.

    ``monotone_rates`` declares that, from one location to one address at one service level,
    the service the rules pick for a heavier parcel never costs less and never arrives
    earlier (true of weight-band rate tables). The search then skips split shapes on a
    bound from the lightest parcel without pricing them; pass False for quote functions
    that break it, and every split shape is priced.
    """
    _check_request(request, locations)
    return _Router(request, stock, locations, rules, quote, promise, monotone_rates).run()


def split_oversized_lines(
    lines: Sequence[RoutingLine], stock: StockMap, locations: Sequence[LocationProfile]
) -> tuple[tuple[RoutingLine, ...], tuple[int, ...]]:
    """Lines no single shipping location can fill, cut into pieces that locations can.

    The engine ships each line whole from one location; a line of 40 units where the largest
    shelf holds 25 would be refused although the network has 40. Such a line is cut greedily
    (largest shelf first) into pieces that are routed like lines of their own. Returns the
    lines to route, renumbered 0..n-1, and for each the ``line_index`` of the line it came
    from. Lines that fit somewhere, or that the network cannot cover at all, are unchanged.
    """
    shipping = [loc.code for loc in locations if loc.ships]
    out: list[RoutingLine] = []
    origin: list[int] = []
    for line in lines:
        shelves = sorted(
            ((max(stock.get((line.sku, code), 0), 0), code) for code in shipping), key=lambda s: (-s[0], s[1])
        )
        best = shelves[0][0] if shelves else 0
        total = sum(units for units, _ in shelves)
        if best >= line.quantity or total < line.quantity:
            pieces = [line.quantity]
        else:
            pieces, left = [], line.quantity
            for units, _ in shelves:
                if left == 0 or units == 0:
                    break
                take = min(units, left)
                pieces.append(take)
                left -= take
        for qty in pieces:
            out.append(
                RoutingLine(len(out), line.sku, qty, line.weight_grams, hazmat=line.hazmat, high_value=line.high_value)
            )
            origin.append(line.line_index)
    return tuple(out), tuple(origin)

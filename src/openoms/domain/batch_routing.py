"""Batch re-optimisation of routed but unreleased orders (``openoms reoptimize``).

``routing.route`` decides one order at a time against whatever stock is left: first come,
first served. The first order takes the cheap location's last units even when it had an
almost-as-good alternative, and the next order, which had none, pays a lot more. While the
orders are still unreleased (nothing picked yet) their plans can be swapped. This module
re-plans them together:

* every order has a few candidate plans (``PlanOption``): the plan it holds now and the
  next-best admissible plans of its routing decision, each with its score (carrier cost,
  transit, distance, load and split penalty, as ``route`` scored it);
* a 0/1 program picks one plan per order, minimising the total score (plus an optional
  extra penalty per additional shipment, and an optional cost per order moved), within the
  stock of every (SKU, location) and the units every location can still ship today;
* HiGHS (``highspy``) solves it, starting from the current assignment, so a run stopped by
  the time limit is never worse than what the orders already hold; an answer that is no
  better (or infeasible by our own integer check) is thrown away and the current plans kept.

Pure: plain values in, a ``BatchPlan`` out; the caller re-reserves the moved orders.
Money stays ``Decimal``; floats exist only inside the solver's model. The same input gives
the same plan unless the time limit cuts the search short.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Any

import highspy
import numpy as np

from openoms.domain.errors import DomainError, ErrorCode, FieldError
from openoms.domain.routing import PlanEvaluation, RoutedAllocation, RoutingDecision

#: Candidate plans per order by default: the current one and the next best seven.
DEFAULT_OPTIONS = 8
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_CENT = Decimal("0.01")
_INF = highspy.kHighsInf

Resource = tuple[str, str]  # (sku, location_code)


# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanOption:
    """One way of shipping an order, as the optimiser needs it: what it costs and which units
    it takes from where. ``allocations`` is what the caller reserves if the plan is chosen."""

    label: str  # "WH-DFW" or "split WH-DFW+ST-NYC", as in the routing explanation
    score: Decimal  # the plan's score from routing, in the rules' currency
    shipments: int
    units: Mapping[Resource, int]  # (sku, location_code) -> units
    allocations: tuple[RoutedAllocation, ...] = ()
    complete_by: dt.date | None = None  # the latest arrival of the plan's promise

    def __post_init__(self) -> None:
        # read-only, so that options can be shared between batches without surprises
        object.__setattr__(self, "units", MappingProxyType(dict(self.units)))

    @cached_property
    def location_units(self) -> Mapping[str, int]:
        """Units per location: what the plan takes from each location's daily capacity."""
        out: dict[str, int] = {}
        for (_, code), n in self.units.items():
            out[code] = out.get(code, 0) + n
        return MappingProxyType(out)

    @property
    def key(self) -> tuple[tuple[Any, ...], ...]:
        """Which location ships each line (else which units from where): two options with
        the same key are the same plan."""
        if self.allocations:
            return tuple(sorted((a.line_index, a.location_code) for a in self.allocations))
        return tuple(sorted((sku, code, n) for (sku, code), n in self.units.items()))


@dataclass(frozen=True)
class OrderOptions:
    """An order's candidate plans; ``options[current]`` is the plan it holds now (feasible by
    construction: its stock is reserved and handed back to the batch in ``free``)."""

    order_ref: str
    options: tuple[PlanOption, ...]
    current: int = 0


def option_from_plan(plan: PlanEvaluation, lines: Mapping[int, tuple[str, int]]) -> PlanOption:
    """A routing plan as a ``PlanOption``. ``lines`` maps each line index to (sku, units);
    a decision's own allocations give it, since every plan ships every line."""
    units: dict[Resource, int] = {}
    allocations: list[RoutedAllocation] = []
    for s in plan.shipments:
        for i in s.line_indexes:
            sku, qty = lines[i]
            units[(sku, s.location_code)] = units.get((sku, s.location_code), 0) + qty
            allocations.append(RoutedAllocation(i, sku, s.location_code, qty))
    allocations.sort(key=lambda a: a.line_index)
    return PlanOption(plan.label, plan.score, len(plan.shipments), units, tuple(allocations), plan.promise.latest)


def options_from_decision(
    decision: RoutingDecision, *, limit: int = DEFAULT_OPTIONS, not_after: dt.date | None = None
) -> tuple[PlanOption, ...]:
    """The admissible plans of a decision, best first, at most ``limit``: what routing
    already priced is all the optimiser needs, no carrier is asked again. ``not_after``
    drops plans completing later than that date (the promise the customer was given)."""
    if limit < 1:
        raise _invalid([FieldError("limit", "must be at least 1")])
    lines = {a.line_index: (a.sku, a.quantity) for a in decision.allocations}
    out: list[PlanOption] = []
    for plan in decision.plans:
        if not plan.admissible or (not_after is not None and plan.promise.latest > not_after):
            continue
        out.append(option_from_plan(plan, lines))
        if len(out) == limit:
            break
    return tuple(out)


def order_options(
    order_ref: str,
    current: RoutingDecision,
    *,
    alternatives: RoutingDecision | None = None,
    limit: int = DEFAULT_OPTIONS,
    keep_promise: bool = True,
) -> OrderOptions:
    """An order's candidates: the plan it holds (``current.chosen``, index 0) and the best
    other plans, at most ``limit`` in all.

    ``current`` was decided against the stock left when the order came in, so its losing
    plans miss locations that earlier orders had emptied. Route the order again against the
    stock available to the whole batch and pass that decision as ``alternatives`` to offer
    those too. With ``keep_promise`` no alternative completes later than the current plan:
    the customer has been given that date."""
    lines = {a.line_index: (a.sku, a.quantity) for a in current.allocations}
    held = option_from_plan(current.chosen, lines)
    not_after = held.complete_by if keep_promise else None
    source = alternatives if alternatives is not None else current
    seen = {held.key}
    options = [held]
    for option in options_from_decision(source, limit=limit + 1, not_after=not_after):
        if len(options) == limit:
            break
        if option.key not in seen:
            seen.add(option.key)
            options.append(option)
    return OrderOptions(order_ref, tuple(options), 0)


# --- result -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanMove:
    """An order whose plan changes: release ``before``'s allocations, reserve ``after``'s."""

    order_ref: str
    before: PlanOption
    after: PlanOption
    saving: Decimal  # before's cost minus after's (negative when the order gives way to others)


@dataclass(frozen=True)
class SolveProgress:
    """What the solver reports on each better solution it finds (for a progress bar)."""

    seconds: float
    objective: float
    dual_bound: float
    gap: float


@dataclass(frozen=True)
class BatchPlan:
    """The chosen plan per order and how it compares with what the orders hold now.

    ``objective`` and ``greedy_objective`` are total plan costs (scores plus the extra split
    penalty) of the chosen and of the current plans; a move cost, if any, is not in them.
    ``status`` is HiGHS's model status of the last program solved, ``mip_gap`` HiGHS's
    relative gap in it (with ``method`` "lp-support", within the restricted program);
    ``dual_bound`` holds for every plan offered, so ``gap_to_bound`` is what could at most
    still be gained. ``kept_current`` says the solver's answer was not used."""

    choices: tuple[int, ...]  # per order, in input order: index into its options
    moves: tuple[PlanMove, ...]
    objective: Decimal
    greedy_objective: Decimal
    dual_bound: Decimal | None  # proven lower bound on objective + move costs (None: none proven)
    mip_gap: float | None  # HiGHS's relative gap at the end; 0 when proven optimal
    status: str
    method: str  # "lp-support", "full" or "none" (nothing to optimise)
    kept_current: bool
    solve_seconds: float  # both phases
    build_seconds: float  # validation, pruning and the model's arrays
    variables: int
    constraints: int
    columns_searched: int  # variables left to the 0/1 search
    fixed_orders: int  # orders with one usable plan: no variables

    @property
    def gap_to_bound(self) -> float | None:
        """(objective - dual bound) / objective: the most a perfect solver could still save."""
        if self.dual_bound is None or self.objective == 0:
            return None
        return float((self.objective - self.dual_bound) / self.objective)

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(m.order_ref for m in self.moves)

    @property
    def saving(self) -> Decimal:
        return self.greedy_objective - self.objective

    @property
    def saving_pct(self) -> Decimal:
        if self.greedy_objective == 0:
            return _ZERO
        return (self.saving * _HUNDRED / self.greedy_objective).quantize(_CENT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": len(self.choices),
            "changed": len(self.moves),
            "objective": str(self.objective),
            "greedy_objective": str(self.greedy_objective),
            "saving": str(self.saving),
            "saving_pct": str(self.saving_pct),
            "dual_bound": None if self.dual_bound is None else str(self.dual_bound),
            "mip_gap": self.mip_gap,
            "gap_to_bound": self.gap_to_bound,
            "status": self.status,
            "method": self.method,
            "columns_searched": self.columns_searched,
            "kept_current": self.kept_current,
            "solve_seconds": round(self.solve_seconds, 3),
            "build_seconds": round(self.build_seconds, 3),
            "variables": self.variables,
            "constraints": self.constraints,
            "fixed_orders": self.fixed_orders,
            "moves": [
                {"order": m.order_ref, "from": m.before.label, "to": m.after.label, "saving": str(m.saving)}
                for m in self.moves
            ],
        }


# --- the optimiser ----------------------------------------------------------------------------


def optimise(
    orders: Sequence[OrderOptions],
    free: Mapping[Resource, int],
    capacity: Mapping[str, int | None],
    *,
    extra_split_penalty: Decimal = _ZERO,
    move_cost: Decimal = _ZERO,
    time_limit_s: float = 50.0,
    mip_gap: float = 1e-4,
    progress: Callable[[SolveProgress], None] | None = None,
    restrict_to_lp_support: bool = True,
) -> BatchPlan:
    """Choose one plan per order for the least total cost within stock and capacity.

    ``free`` is the units available to these orders at each (sku, location), including what
    they hold now (the caller hands their reservations back); a missing key is 0.
    ``capacity`` is the units each location can still ship today, again including the
    orders' current use; None or a missing location is unlimited. ``extra_split_penalty``
    is added per shipment beyond the first, on top of the rules' own. ``move_cost`` is
    charged per order moved off its plan, so that a batch does not re-pick orders for cents.
    ``restrict_to_lp_support`` solves the LP relaxation first and then the 0/1 program over
    the plans it uses (plus the current ones): far faster on large batches, optimal within
    that restriction only (``dual_bound`` stays the LP's, valid for every plan). ``progress``
    is called on each better solution (and once after the LP).
    Raises ``DomainError`` (validation) on bad input, naming the field.
    """
    _check(orders, free, capacity, extra_split_penalty, move_cost, time_limit_s, mip_gap)
    started = time.perf_counter()
    costs = [
        [opt.score + extra_split_penalty * (opt.shipments - 1) for opt in o.options] for o in orders
    ]  # Decimal, per order and option
    greedy = sum((costs[i][o.current] for i, o in enumerate(orders)), _ZERO)
    stock_left = {r: n for r, n in free.items()}
    cap_left = {c: n for c, n in capacity.items() if n is not None}

    # Options that cannot fit on their own are out; an order left with one option is fixed,
    # its use taken off the stock and capacity, which may leave others with one: repeat.
    usable = [list(range(len(o.options))) for o in orders]
    fixed: set[int] = set()
    settled = False
    while not settled:
        settled = True
        for i, o in enumerate(orders):
            if i in fixed:
                continue
            usable[i] = [p for p in usable[i] if p == o.current or _fits(o.options[p], stock_left, cap_left)]
            if len(usable[i]) == 1:  # the current plan always fits: it is what was handed back
                fixed.add(i)
                _take(o.options[o.current], stock_left, cap_left, 1)
                settled = False
    variable = [i for i in range(len(orders)) if i not in fixed]
    fixed_count = len(orders) - len(variable)

    choices = [o.current for o in orders]
    model = _Model(orders, variable, usable, costs, stock_left, cap_left, move_cost)
    build_seconds = time.perf_counter() - started
    if not variable:
        outcome = _Outcome(None, "Nothing to optimise", 0.0, float(greedy), 0.0, "none", 0)
    else:
        outcome = model.solve(time_limit_s, mip_gap, progress, restrict_to_lp_support)
    kept = True
    if outcome.choices is not None and _feasible(orders, outcome.choices, free, capacity):
        objective = sum((costs[i][p] for i, p in enumerate(outcome.choices)), _ZERO)
        moved = sum(1 for i, p in enumerate(outcome.choices) if p != orders[i].current)
        if objective + move_cost * moved < greedy:  # else keep what the orders hold
            choices = _settle(orders, outcome.choices, costs, free, capacity)
            kept = False
    return _result(orders, choices, costs, greedy, outcome, kept, build_seconds, model, fixed_count)


@dataclass(frozen=True)
class _Outcome:
    choices: list[int] | None
    status: str
    gap: float | None
    dual_bound: float | None
    seconds: float
    method: str  # "lp-support": the program restricted to the LP's plans; "full"; "none"
    columns_searched: int


class _Model:
    """The 0/1 program in HiGHS's column-wise form: one column per (order, usable option);
    a row per order (pick exactly one), per (sku, location) and per capped location that
    could be over-used (a row the orders cannot exceed even at their worst is left out)."""

    def __init__(
        self,
        orders: Sequence[OrderOptions],
        variable: list[int],
        usable: list[list[int]],
        costs: list[list[Decimal]],
        stock_left: Mapping[Resource, int],
        cap_left: Mapping[str, int],
        move_cost: Decimal,
    ) -> None:
        self.orders = orders
        self.variable = variable
        self.usable = usable
        self.move_cost = move_cost
        # the fixed orders' cost, so that HiGHS's objective, bound and gap are batch totals
        in_model = set(variable)
        self.offset = float(sum((costs[i][o.current] for i, o in enumerate(orders) if i not in in_model), _ZERO))
        # The most each order could take of each resource: a row whose worst case fits is slack.
        worst_stock: dict[Resource, int] = {}
        worst_cap: dict[str, int] = {}
        for i in variable:
            opts = orders[i].options
            most_s: dict[Resource, int] = {}
            most_c: dict[str, int] = {}
            for p in usable[i]:
                for r, n in opts[p].units.items():
                    if n > most_s.get(r, 0):
                        most_s[r] = n
                for c, n in opts[p].location_units.items():
                    if c in cap_left and n > most_c.get(c, 0):
                        most_c[c] = n
            for r, n in most_s.items():
                worst_stock[r] = worst_stock.get(r, 0) + n
            for c, n in most_c.items():
                worst_cap[c] = worst_cap.get(c, 0) + n
        n_orders = len(variable)
        stock_rows = {r: 0 for r, n in worst_stock.items() if n > stock_left.get(r, 0)}
        cap_rows = {c: 0 for c, n in worst_cap.items() if n > cap_left[c]}
        upper: list[float] = [1.0] * n_orders
        for k, r in enumerate(stock_rows):
            stock_rows[r] = n_orders + k
            upper.append(float(stock_left.get(r, 0)))
        for k, c in enumerate(cap_rows):
            cap_rows[c] = n_orders + len(stock_rows) + k
            upper.append(float(cap_left[c]))
        lower = [1.0] * n_orders + [-_INF] * (len(upper) - n_orders)
        cost: list[float] = []
        start: list[int] = [0]
        index: list[int] = []
        value: list[float] = []
        current: list[float] = []
        self.columns: list[tuple[int, int]] = []  # (order position, option index)
        for row, i in enumerate(variable):
            o = orders[i]
            for p in usable[i]:
                opt = o.options[p]
                self.columns.append((i, p))
                cost.append(float(costs[i][p] + (move_cost if p != o.current else _ZERO)))
                current.append(1.0 if p == o.current else 0.0)
                index.append(row)
                value.append(1.0)
                for r, n in opt.units.items():
                    at = stock_rows.get(r)
                    if at is not None and n:
                        index.append(at)
                        value.append(float(n))
                for c, n in opt.location_units.items():
                    at = cap_rows.get(c)
                    if at is not None and n:
                        index.append(at)
                        value.append(float(n))
                start.append(len(index))
        self.num_col = len(cost)
        self.num_row = len(upper)
        self.cost = np.array(cost, dtype=np.float64)
        self.row_lower = np.array(lower, dtype=np.float64)
        self.row_upper = np.array(upper, dtype=np.float64)
        self.start = np.array(start, dtype=np.int32)
        self.index = np.array(index, dtype=np.int32)
        self.value = np.array(value, dtype=np.float64)
        self.current = np.array(current, dtype=np.float64)

    def solve(
        self,
        time_limit_s: float,
        mip_gap: float,
        progress: Callable[[SolveProgress], None] | None,
        restrict: bool,
    ) -> _Outcome:
        """Two phases when ``restrict``: the LP relaxation (seconds), then the 0/1 program over
        the plans the LP uses plus the current ones (RENS-like). On 10,000 orders HiGHS spends
        the whole budget cutting at the root of the full program without improving on the
        start; the restricted one is several times smaller and finds most of the saving in
        seconds. The LP's optimum stays a valid bound for the full program."""
        started = time.perf_counter()
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        h.setOptionValue("random_seed", 0)
        n = self.num_col
        status = h.passModel(
            n,
            self.num_row,
            len(self.index),
            int(highspy.MatrixFormat.kColwise),
            int(highspy.ObjSense.kMinimize),
            self.offset,
            self.cost,
            np.zeros(n, dtype=np.float64),
            np.ones(n, dtype=np.float64),
            self.row_lower,
            self.row_upper,
            self.start[:-1],
            self.index,
            self.value,
            np.ones(n, dtype=np.int32),  # kInteger
        )
        if status == highspy.HighsStatus.kError:
            return _Outcome(None, "model rejected by HiGHS", None, None, 0.0, "none", 0)
        columns = np.arange(n, dtype=np.int32)
        lp_bound: float | None = None
        method = "full"
        kept_columns = n
        if restrict:
            h.setOptionValue("solve_relaxation", True)
            h.run()
            if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                lp_bound = float(h.getInfo().objective_function_value)
                lp_x = np.asarray(h.getSolution().col_value, dtype=np.float64)
                keep = (lp_x > 1e-6) | (self.current > 0.5)
                kept_columns = int(keep.sum())
                h.changeColsBounds(n, columns, np.zeros(n, dtype=np.float64), keep.astype(np.float64))
                method = "lp-support"
                if progress is not None:
                    greedy = float(self.cost @ self.current) + self.offset
                    lp_gap = (greedy - lp_bound) / max(abs(greedy), 1e-9)
                    progress(SolveProgress(time.perf_counter() - started, greedy, lp_bound, lp_gap))
            h.setOptionValue("solve_relaxation", False)
            left = time_limit_s - (time.perf_counter() - started)
            if left <= 0:
                return _Outcome(None, "Time limit reached", None, lp_bound, time.perf_counter() - started, method, n)
            h.setOptionValue("time_limit", left)
        # Start from what the orders hold: a feasible incumbent from the first second on.
        h.setSolution(n, columns, self.current)
        if progress is not None:

            def report(event: Any) -> None:
                out = event.data_out
                best_bound = out.mip_dual_bound if lp_bound is None else lp_bound
                rel = (out.mip_primal_bound - best_bound) / max(abs(out.mip_primal_bound), 1e-9)
                progress(SolveProgress(time.perf_counter() - started, out.mip_primal_bound, best_bound, rel))

            h.cbMipImprovingSolution.subscribe(report)
        h.run()
        seconds = time.perf_counter() - started
        text = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        gap = float(info.mip_gap) if abs(info.mip_gap) < _INF else None
        bound = float(info.mip_dual_bound) if abs(info.mip_dual_bound) < _INF else None
        if method == "lp-support":  # the restricted program's bound says nothing of the rest
            bound = lp_bound
        if info.primal_solution_status != 2:  # kSolutionStatusFeasible
            return _Outcome(None, text, gap, bound, seconds, method, kept_columns)
        values = [float(v) for v in h.getSolution().col_value]
        best: dict[int, tuple[float, int]] = {}
        for (i, p), v in zip(self.columns, values, strict=True):
            if i not in best or v > best[i][0]:
                best[i] = (v, p)
        choices = [o.current for o in self.orders]
        for i, (v, p) in best.items():
            if v < 0.5:
                return _Outcome(None, text + " (fractional answer)", gap, bound, seconds, method, kept_columns)
            choices[i] = p
        return _Outcome(choices, text, gap, bound, seconds, method, kept_columns)


def _result(
    orders: Sequence[OrderOptions],
    choices: list[int],
    costs: list[list[Decimal]],
    greedy: Decimal,
    outcome: _Outcome,
    kept: bool,
    build_seconds: float,
    model: _Model,
    fixed: int,
) -> BatchPlan:
    objective = sum((costs[i][p] for i, p in enumerate(choices)), _ZERO)
    bound = None
    if outcome.dual_bound is not None:
        bound = Decimal(repr(outcome.dual_bound)).quantize(_CENT, ROUND_FLOOR)
        if model.move_cost == 0:  # float noise must not put the bound above a proven optimum
            bound = min(bound, objective)
    moves = tuple(
        PlanMove(o.order_ref, o.options[o.current], o.options[p], costs[i][o.current] - costs[i][p])
        for i, (o, p) in enumerate(zip(orders, choices, strict=True))
        if p != o.current
    )
    return BatchPlan(
        choices=tuple(choices),
        moves=moves,
        objective=objective,
        greedy_objective=greedy,
        dual_bound=bound,
        mip_gap=outcome.gap,
        status=outcome.status,
        method=outcome.method,
        kept_current=kept or not moves,
        solve_seconds=outcome.seconds,
        build_seconds=build_seconds,
        variables=model.num_col,
        constraints=model.num_row,
        columns_searched=outcome.columns_searched,
        fixed_orders=fixed,
    )


def _fits(opt: PlanOption, stock: Mapping[Resource, int], cap: Mapping[str, int]) -> bool:
    if any(stock.get(r, 0) < n for r, n in opt.units.items()):
        return False
    return not any(c in cap and cap[c] < n for c, n in opt.location_units.items())


def _take(opt: PlanOption, stock: dict[Resource, int], cap: dict[str, int], sign: int) -> None:
    for r, n in opt.units.items():
        stock[r] = stock.get(r, 0) - sign * n
    for c, n in opt.location_units.items():
        if c in cap:
            cap[c] -= sign * n


def _usage(orders: Sequence[OrderOptions], choices: Sequence[int]) -> tuple[dict[Resource, int], dict[str, int]]:
    stock: dict[Resource, int] = {}
    cap: dict[str, int] = {}
    for o, p in zip(orders, choices, strict=True):
        opt = o.options[p]
        for r, n in opt.units.items():
            stock[r] = stock.get(r, 0) + n
        for c, n in opt.location_units.items():
            cap[c] = cap.get(c, 0) + n
    return stock, cap


def _feasible(
    orders: Sequence[OrderOptions],
    choices: Sequence[int],
    free: Mapping[Resource, int],
    capacity: Mapping[str, int | None],
) -> bool:
    """Our own integer check of the solver's answer: float tolerances must not oversell."""
    stock, cap = _usage(orders, choices)
    if any(n > free.get(r, 0) for r, n in stock.items()):
        return False
    return all(capacity.get(c) is None or n <= (capacity.get(c) or 0) for c, n in cap.items())


def _settle(
    orders: Sequence[OrderOptions],
    choices: list[int],
    costs: list[list[Decimal]],
    free: Mapping[Resource, int],
    capacity: Mapping[str, int | None],
) -> list[int]:
    """Put back on its current plan every moved order that gains nothing by moving, when its
    current plan still fits: equal-cost solutions differ only in churn, and churn is work."""
    out = list(choices)
    used_s, used_c = _usage(orders, out)
    stock_left = {r: free.get(r, 0) - n for r, n in used_s.items()}
    for r, n in free.items():
        stock_left.setdefault(r, n)
    cap_left = {c: n - used_c.get(c, 0) for c, n in capacity.items() if n is not None}
    for i, o in enumerate(orders):
        p = out[i]
        if p == o.current or costs[i][o.current] > costs[i][p]:
            continue
        _take(o.options[p], stock_left, cap_left, -1)
        if _fits(o.options[o.current], stock_left, cap_left):
            out[i] = o.current
            _take(o.options[o.current], stock_left, cap_left, 1)
        else:
            _take(o.options[p], stock_left, cap_left, 1)
    return out


# --- validation -------------------------------------------------------------------------------


def _invalid(errors: list[FieldError]) -> DomainError:
    return DomainError(
        ErrorCode.VALIDATION_ERROR,
        "Invalid batch: " + "; ".join(f"{e.field}: {e.reason}" for e in errors[:20]),
        errors,
    )


def _check(
    orders: Sequence[OrderOptions],
    free: Mapping[Resource, int],
    capacity: Mapping[str, int | None],
    extra_split_penalty: Decimal,
    move_cost: Decimal,
    time_limit_s: float,
    mip_gap: float,
) -> None:
    errors: list[FieldError] = []
    if not isinstance(extra_split_penalty, Decimal) or not extra_split_penalty.is_finite() or extra_split_penalty < 0:
        errors.append(FieldError("extra_split_penalty", "must be a non-negative Decimal"))
    if not isinstance(move_cost, Decimal) or not move_cost.is_finite() or move_cost < 0:
        errors.append(FieldError("move_cost", "must be a non-negative Decimal"))
    if not time_limit_s > 0:
        errors.append(FieldError("time_limit_s", "must be more than 0 seconds"))
    if not 0 <= mip_gap < 1:
        errors.append(FieldError("mip_gap", "must be from 0 to less than 1"))
    for r, n in free.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            errors.append(FieldError(f"free[{r[0]}@{r[1]}]", "must be a whole number of units, not negative"))
    for c, limit in capacity.items():
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            errors.append(FieldError(f"capacity[{c}]", "must be a whole number of units, not negative, or None"))
    seen: set[str] = set()
    for i, o in enumerate(orders):
        if o.order_ref in seen:
            errors.append(FieldError(f"orders[{i}].order_ref", f"order {o.order_ref} is repeated"))
        seen.add(o.order_ref)
        if not o.options:
            errors.append(FieldError(f"orders[{i}].options", "must have at least one plan"))
        elif isinstance(o.current, bool) or not isinstance(o.current, int) or not 0 <= o.current < len(o.options):
            errors.append(FieldError(f"orders[{i}].current", f"must be an option index from 0 to {len(o.options) - 1}"))
        for j, opt in enumerate(o.options):
            path = f"orders[{i}].options[{j}]"
            if not isinstance(opt.score, Decimal) or not opt.score.is_finite():
                errors.append(FieldError(f"{path}.score", "must be a finite Decimal"))
            if isinstance(opt.shipments, bool) or not isinstance(opt.shipments, int) or opt.shipments < 1:
                errors.append(FieldError(f"{path}.shipments", "must be at least 1"))
            if not opt.units:
                errors.append(FieldError(f"{path}.units", "must take some units"))
            elif any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in opt.units.values()):
                errors.append(FieldError(f"{path}.units", "must be whole numbers of units, at least 1"))
    if errors:
        raise _invalid(errors)
    # The current plans hold reserved stock that the caller handed back: they must fit.
    stock, cap = _usage(orders, [o.current for o in orders])
    for r, n in stock.items():
        if n > free.get(r, 0):
            errors.append(
                FieldError(
                    f"free[{r[0]}@{r[1]}]", f"{free.get(r, 0)} is less than the {n} units the current plans hold"
                )
            )
    for c, n in cap.items():
        most = capacity.get(c)
        if most is not None and n > most:
            errors.append(FieldError(f"capacity[{c}]", f"{most} is less than the {n} units the current plans ship"))
    if errors:
        raise _invalid(errors)

"""Routing explanations as the order page shows them.

The stored explanation (``services.sourcing``) speaks the engine's language: lines by their
index in the routing request, plans by label, amounts as text. People read order line numbers,
dates and sentences, so this module turns one into the other and nothing else: no database, no
decisions of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

#: How a decision came about, as its heading says it.
TRIGGER_LABELS = {
    "capture": "Order placed",
    "reroute": "Routed again",
    "reject": "Line rejected by a location",
    "batch": "Batch re-plan",
}
RANKING_LABELS = {"cost": "lowest score", "fastest": "earliest delivery, then lowest score"}
DASH = "\u2013"  # en dash, for ranges
_CAN_SHIP = re.compile(r"^can ship lines? ([\d, ]+) only$")


def as_date(value: Any) -> dt.date | None:
    """A date from the explanation (ISO text) or the database (a date)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def day(value: Any) -> str:
    """ "Tue 24 Nov" — the form people use for delivery dates."""
    d = as_date(value)
    if d is None:
        return "—"
    return f"{d:%a} {d.day} {d:%b}" + (f" {d.year}" if d.year != dt.date.today().year else "")


def window(earliest: Any, latest: Any) -> str:
    """ "Mon 30 Nov to Tue 1 Dec" (with an en dash), or one day when the window is a day."""
    a, b = as_date(earliest), as_date(latest)
    if a is None:
        return "—"
    return day(a) if b is None or b == a else f"{day(a)} {DASH} {day(b)}"


def decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None or value == "" else Decimal(str(value))
    except InvalidOperation:
        return None


def km(value: Any) -> str:
    d = decimal(value)
    return "—" if d is None else f"{d:,.0f} km"


def score(value: Any) -> str:
    d = decimal(value)
    return "—" if d is None else f"{d:,.2f}"


class LineNames:
    """Order line numbers for the engine's line indexes.

    At capture the indexes follow the order's lines (pieces of a line cut in two point back to
    it through ``line_pieces``). A re-route routes only the lines that move, so its indexes
    count those; there the SKU says which line it is, when it is on one line only."""

    def __init__(self, explanation: Mapping[str, Any], trigger: str, lines: Sequence[Mapping[str, Any]]) -> None:
        self.by_sku: dict[str, list[Mapping[str, Any]]] = {}
        for ln in lines:
            self.by_sku.setdefault(str(ln["sku"]), []).append(ln)
        self.lines = list(lines)
        self.trigger = trigger
        self.pieces = explanation.get("line_pieces") or None
        self.sku_of: dict[int, str] = {}
        for a in explanation.get("allocations") or []:
            if "line_index" in a:
                self.sku_of[int(a["line_index"])] = str(a["sku"])

    def number(self, index: int) -> int | None:
        sku = self.sku_of.get(index)
        if sku is not None and len(self.by_sku.get(sku, [])) == 1:
            return int(self.by_sku[sku][0]["line_number"])
        if self.trigger == "capture":
            origin = self.pieces[index] if self.pieces and 0 <= index < len(self.pieces) else index
            if 0 <= origin < len(self.lines):
                return int(self.lines[origin]["line_number"])
        return None

    def label(self, index: int) -> str:
        n = self.number(index)
        return f"Line {n}" if n is not None else (self.sku_of.get(index) or f"Item {index + 1}")

    def short(self, indexes: Sequence[int]) -> str:
        """ "lines 1, 2 and 4" for a shipment or a plan's part."""
        names = [str(n) if (n := self.number(i)) is not None else self.label(i) for i in indexes]
        if not names:
            return "no lines"
        if len(names) == 1:
            return f"line {names[0]}" if names[0].isdigit() else names[0]
        joined = ", ".join(names[:-1]) + " and " + names[-1]
        return f"lines {joined}"

    def all_indexes(self, explanation: Mapping[str, Any]) -> list[int]:
        seen: set[int] = set(self.sku_of)
        for c in explanation.get("candidates") or []:
            seen.update(int(i) for i in c.get("eligible_lines") or [])
            seen.update(int(x["line_index"]) for x in c.get("ineligible_lines") or [])
        return sorted(seen)


def _outcome(text: str, label: str) -> str:
    """A losing plan's reason without repeating its label, as a sentence."""
    text = text.strip()
    if text.startswith(label + ": "):
        text = text[len(label) + 2 :]
    return text[:1].upper() + text[1:]


def _plan_view(plan: Mapping[str, Any], names: LineNames, currency: str, chosen: bool) -> dict[str, Any]:
    b = plan.get("breakdown") or {}
    terms = b.get("terms") or {}
    promise = plan.get("promise") or {}
    ships = plan.get("shipments") or []
    return {
        "label": plan.get("label", "—"),
        "parts": [
            {"location": s.get("location"), "lines": names.short([int(i) for i in s.get("lines") or []])} for s in ships
        ],
        "score": score(plan.get("score")),
        "carrier_cost": decimal(b.get("carrier_cost")),
        "currency": b.get("currency") or currency,
        "delivery_days": b.get("delivery_days"),
        "distance": km(b.get("distance_km")),
        "shipments": b.get("shipments", len(ships)),
        "terms": [
            (label, score(terms.get(key)))
            for key, label in (
                ("carrier_cost", "carrier cost"),
                ("transit_days", "days to deliver"),
                ("distance", "distance"),
                ("split_penalty", "split penalty"),
                ("load", "location load"),
            )
            if key in terms
        ],
        "window": window(promise.get("earliest"), promise.get("latest")),
        "admissible": bool(plan.get("admissible", True)),
        "chosen": chosen,
        "outcome": "Chosen" if chosen else _outcome(str(plan.get("outcome", "")), str(plan.get("label", ""))),
    }


def _shipment_view(s: Mapping[str, Any], names: LineNames, location_names: Mapping[str, str]) -> dict[str, Any]:
    w = s.get("window") or {}
    transit = s.get("transit_days") or []
    if len(transit) == 2 and transit[0] != transit[1]:
        transit_text = f"{transit[0]}{DASH}{transit[1]} business days"
    elif transit:
        transit_text = f"{transit[0]} business day{'s' if transit[0] != 1 else ''}"
    else:
        transit_text = ""
    code = str(s.get("location", ""))
    return {
        "location": code,
        "location_name": location_names.get(code, ""),
        "lines": names.short([int(i) for i in s.get("lines") or []]),
        "line_labels": [names.label(int(i)) for i in s.get("lines") or []],
        "units": s.get("units"),
        "carrier": s.get("carrier"),
        "service_code": s.get("service_code"),
        "service_level": s.get("service_level"),
        "transit": transit_text,
        "cost": decimal(s.get("cost")),
        "currency": s.get("currency"),
        "distance": km(s.get("distance_km")),
        "ship_date": day(w.get("ship_date")),
        "window": window(w.get("earliest"), w.get("latest")),
        "basis": w.get("basis"),
    }


def _candidate_view(
    c: Mapping[str, Any],
    names: LineNames,
    indexes: Sequence[int],
    chosen_locations: set[str],
    location_names: Mapping[str, str],
) -> dict[str, Any]:
    eligible = {int(i) for i in c.get("eligible_lines") or []}
    why = {int(x["line_index"]): str(x.get("reason") or "") for x in c.get("ineligible_lines") or []}
    excluded = c.get("excluded")
    lines = []
    for i in indexes:
        ok = i in eligible and not excluded
        reason = None if ok else (excluded or why.get(i) or "not eligible")
        lines.append({"label": names.label(i), "eligible": ok, "reason": reason})
    outcome = str(c.get("outcome") or "")
    if _CAN_SHIP.match(outcome):  # name the order's lines (a cut line's pieces by its line)
        outcome = f"Can ship {names.short(sorted(eligible))} only"
    else:
        outcome = outcome[:1].upper() + outcome[1:]
    code = str(c.get("location", ""))
    if excluded:
        standing = "excluded"
    elif lines and all(x["eligible"] for x in lines):
        standing = "all"
    elif any(x["eligible"] for x in lines):
        standing = "some"
    else:
        standing = "none"
    return {
        "location": code,
        "location_name": location_names.get(code, ""),
        "kind": c.get("kind", ""),
        "excluded": excluded,
        "lines": lines,
        "outcome": outcome,
        "chosen": code in chosen_locations,
        "standing": standing,
    }


def decision_view(
    decision: Mapping[str, Any],
    lines: Sequence[Mapping[str, Any]],
    location_names: Mapping[str, str],
    currency: str,
) -> dict[str, Any]:
    """One stored decision, ready for the template."""
    ex: Mapping[str, Any] = decision.get("explanation") or {}
    trigger = str(decision.get("trigger") or "")
    names = LineNames(ex, trigger, lines)
    view: dict[str, Any] = {
        "id": decision.get("id"),
        "trigger": trigger,
        "trigger_label": TRIGGER_LABELS.get(trigger, trigger.replace("_", " ").capitalize()),
        "rule": decision.get("rule"),
        "chosen_label": decision.get("chosen"),
        "actor": decision.get("actor") or "",
        "created_at": decision.get("created_at"),
        "promise": decision.get("promise"),
        "method": "pickup" if ex.get("method") in ("pickup", "curbside") else ex.get("method", "engine"),
        "notes": list(ex.get("notes") or []),
        "address": ex.get("address"),
    }
    p = decision.get("promise") or {}
    view["promise_text"] = (
        f"ships {day(p.get('ship_date'))}, arrives {window(p.get('earliest'), p.get('latest'))}" if p else None
    )
    if view["method"] in ("priority", "pickup"):  # a pickup is reserved at its store only
        view["why"] = ex.get("why") or "Sourced by location priority."
        view["rule_name"] = ex.get("rule")
        view["allocations"] = [
            {
                "line": _priority_line(a, names),
                "sku": a.get("sku"),
                "location": a.get("location"),
                "location_name": location_names.get(str(a.get("location")), ""),
                "quantity": a.get("quantity"),
            }
            for a in ex.get("allocations") or []
        ]
        view["priorities"] = [
            {
                "location": c.get("location"),
                "location_name": location_names.get(str(c.get("location")), ""),
                "priority": c.get("priority"),
                "chosen": c.get("location") in (ex.get("locations") or []),
            }
            for c in ex.get("candidates") or []
        ]
        return view

    plans = list(ex.get("plans") or [])
    chosen_plan = plans[0] if plans else {}
    view["service_level"] = ex.get("service_level")
    view["ranking"] = RANKING_LABELS.get(str(ex.get("ranking")), str(ex.get("ranking") or ""))
    view["fulfilment_mode"] = str(ex.get("fulfilment_mode") or "").replace("_", " ")
    view["split_policy"] = str(ex.get("split_policy") or "").replace("_", " ")
    rules = ex.get("rules") or {}
    view["rules_label"] = f"routing/{rules.get('name')}@v{rules.get('version')}" if rules else decision.get("rule")
    view["chosen"] = _plan_view(chosen_plan, names, currency, True) if plans else None
    view["shipments"] = [_shipment_view(s, names, location_names) for s in (chosen_plan.get("shipments") or [])]
    view["basis"] = (chosen_plan.get("promise") or {}).get("basis") or (ex.get("promise") or {}).get("basis")
    view["plans"] = [_plan_view(pl, names, currency, i == 0) for i, pl in enumerate(plans)]
    indexes = names.all_indexes(ex)
    view["line_headers"] = [names.label(i) for i in indexes]
    chosen_locations = {str(s.get("location")) for s in chosen_plan.get("shipments") or []}
    candidates = [
        _candidate_view(c, names, indexes, chosen_locations, location_names) for c in ex.get("candidates") or []
    ]
    order = {"all": 1, "some": 2, "none": 3, "excluded": 4}
    candidates.sort(key=lambda c: (0 if c["chosen"] else order[c["standing"]], c["location"]))
    view["candidates"] = candidates
    view["candidate_counts"] = {
        k: sum(1 for c in candidates if c["standing"] == k) for k in ("all", "some", "none", "excluded")
    }
    view["skipped_splits"] = len(ex.get("skipped_splits") or [])
    view["search"] = ex.get("search") or {}
    covered = sorted({n for i in indexes if (n := names.number(i)) is not None})
    all_numbers = [int(ln["line_number"]) for ln in lines]
    view["covers"] = None if not covered or covered == all_numbers else names.short(indexes)
    return view


def _priority_line(a: Mapping[str, Any], names: LineNames) -> str:
    sku = str(a.get("sku", ""))
    if len(names.by_sku.get(sku, [])) == 1:
        return f"Line {names.by_sku[sku][0]['line_number']}"
    return f"Line {a.get('line')}" if names.trigger == "capture" else sku


def routing_view(
    decisions: Sequence[Mapping[str, Any]],
    lines: Sequence[Mapping[str, Any]],
    location_names: Mapping[str, str],
    currency: str,
) -> dict[str, Any] | None:
    """The latest decision in full and the earlier ones in brief (newest first)."""
    if not decisions:
        return None
    views = [decision_view(d, lines, location_names, currency) for d in decisions]
    return {"current": views[0], "earlier": views[1:]}

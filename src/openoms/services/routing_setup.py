"""Configuring routing without code: sourcing rule versions and carrier rate tables.

Both are versioned, never edited in place: a new rules version or a newly loaded rate table
takes over for the next order, and the decisions already taken keep naming the version and
table they used, so they can still be explained.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from openoms.adapters.carriers.rate_csv import RateCsvError, RateCsvProblem, load_rate_table, parse_rate_rows
from openoms.adapters.db.engine import Database
from openoms.adapters.db.journal import record_audit
from openoms.adapters.db.tables import CarrierRate, CarrierRateTable, Location, SourcingRuleSet, table
from openoms.domain.errors import DomainError, ErrorCode, FieldError, NotFound
from openoms.domain.routing import SourcingRules
from openoms.services.common import Actor, utcnow

rules_t = table(SourcingRuleSet)
rate_tables_t = table(CarrierRateTable)
rates_t = table(CarrierRate)
locations_t = table(Location)

MAX_NOTE = 500


# --- sourcing rules ---------------------------------------------------------------------------


def _rule_set(row: Any) -> dict[str, Any]:
    return {
        "version": row.version,
        "name": row.name,
        "label": f"routing/{row.name}@v{row.version}",
        "rules": row.rules,
        "note": row.note,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def list_rule_sets(db: Database) -> list[dict[str, Any]]:
    """Every version, newest (the one in force) first."""
    with db.read() as conn:
        return [_rule_set(r) for r in conn.execute(select(rules_t).order_by(rules_t.c.version.desc()))]


def current_rule_set(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(select(rules_t).order_by(rules_t.c.version.desc()).limit(1)).first()
    if row is None:  # only if someone deleted the migration's version 1
        rules = SourcingRules(version=1)
        return {
            "version": 1,
            "name": rules.name,
            "label": rules.rule_label,
            "rules": rules.to_dict(),
            "note": "built-in defaults",
            "created_by": "openoms",
            "created_at": None,
        }
    return _rule_set(row)


def get_rule_set(db: Database, version: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(select(rules_t).where(rules_t.c.version == version)).first()
    if row is None:
        raise NotFound("Sourcing rules version", str(version))
    return _rule_set(row)


def create_rule_set(db: Database, changes: Mapping[str, Any], note: str | None, actor: Actor) -> dict[str, Any]:
    """A new version from the one in force with ``changes`` applied (any field of
    ``SourcingRules`` except ``version``, which is the next number). Every problem is
    reported at once with its field; nothing is stored unless all is well."""
    if not isinstance(changes, Mapping):
        raise DomainError(
            ErrorCode.VALIDATION_ERROR, "rules: must be an object", [FieldError("rules", "must be an object")]
        )
    if "version" in changes:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            "version: is assigned by OpenOMS (the next number); leave it out",
            [FieldError("version", "is assigned by OpenOMS (the next number); leave it out")],
        )
    if note is not None and len(note) > MAX_NOTE:
        raise DomainError(
            ErrorCode.VALIDATION_ERROR,
            f"note: at most {MAX_NOTE} characters",
            [FieldError("note", f"at most {MAX_NOTE} characters")],
        )
    for _attempt in range(3):
        try:
            with db.begin() as conn:
                latest = conn.execute(select(rules_t).order_by(rules_t.c.version.desc()).limit(1)).first()
                if latest is None:
                    # Orders routed so far used the built-in defaults as version 1: store them
                    # as such, so that the label they carry still names what they used.
                    conn.execute(
                        insert(rules_t).values(
                            version=1,
                            name="default",
                            rules=SourcingRules(version=1).to_dict(),
                            note="the engine's defaults",
                            created_by="openoms",
                            created_at=utcnow(),
                        )
                    )
                base = dict(latest.rules) if latest else SourcingRules(version=1).to_dict()
                version = (latest.version if latest else 1) + 1
                merged = {**base, **changes, "version": version}
                rules = SourcingRules.from_dict(merged)
                stored = rules.to_dict()
                now = utcnow()
                conn.execute(
                    insert(rules_t).values(
                        version=version,
                        name=rules.name,
                        rules=stored,
                        note=note,
                        created_by=actor.name,
                        created_at=now,
                    )
                )
                changed = sorted(k for k in stored if k != "version" and stored[k] != base.get(k))
                record_audit(
                    conn,
                    actor=actor.name,
                    action="sourcing_rules.created",
                    subject_type="sourcing_rules",
                    subject_id=str(version),
                    message=f"Sourcing rules v{version} ({rules.name}) in force"
                    + (f"; changed {', '.join(changed)}" if changed else "; no field changed")
                    + (f": {note}" if note else ""),
                    data={"changed": changed, "rules": stored},
                    now=now,
                )
            return get_rule_set(db, version)
        except IntegrityError:
            continue  # another version was stored at the same moment: build on that one
    raise DomainError(ErrorCode.ALREADY_EXISTS, "Sourcing rules kept changing while this version was saved; try again")


# --- carrier rate tables ----------------------------------------------------------------------


def load_rates(db: Database, text: str, source: str, actor: Actor) -> dict[str, Any]:
    """Load a rate CSV (docs/carriers.md) as the rate table in force. The file is checked
    whole first: a file with any problem loads nothing, and every problem names its row and
    column. Location codes must be known locations (or ``*``)."""
    text = text.lstrip("\ufeff")
    table_ = load_rate_table(io.StringIO(text, newline=""), source)  # raises RateCsvError
    rows, numbers, _ = parse_rate_rows(io.StringIO(text, newline=""))
    with db.begin() as conn:
        known = set(conn.execute(select(locations_t.c.code)).scalars())
        unknown = [
            RateCsvProblem(n, "location", f"no location with code {r.location!r}; create it first or use *")
            for r, n in zip(rows, numbers, strict=True)
            if r.location != "*" and r.location not in known
        ]
        if unknown:
            raise RateCsvError(source, unknown)
        now = utcnow()
        table_id = conn.execute(
            insert(rate_tables_t)
            .values(
                source=source[:255],
                row_count=len(rows),
                currency=table_.currency or "USD",
                loaded_by=actor.name,
                loaded_at=now,
            )
            .returning(rate_tables_t.c.id)
        ).scalar_one()
        conn.execute(
            insert(rates_t),
            [
                {
                    "rate_table_id": table_id,
                    "location": r.location,
                    "carrier": r.carrier,
                    "service_code": r.service_code,
                    "service_level": r.service_level.value,
                    "zone": r.zone,
                    "from_km": r.from_km,
                    "to_km": r.to_km,
                    "weight_up_to_grams": r.weight_up_to_grams,
                    "cost": r.cost,
                    "currency": r.currency,
                    "transit_days_min": r.transit_days_min,
                    "transit_days_max": r.transit_days_max,
                }
                for r in rows
            ],
        )
        services = sorted({r.service_code for r in rows})
        record_audit(
            conn,
            actor=actor.name,
            action="carrier_rates.loaded",
            subject_type="carrier_rates",
            subject_id=str(table_id),
            message=f"Rate table {table_id} loaded from {source}: {len(rows)} rates, {len(services)} services",
            data={"rows": len(rows), "services": services},
            now=now,
        )
    return rate_table_summary(db, table_id)


def rate_table_summary(db: Database, table_id: int | None = None) -> dict[str, Any]:
    """A rate table (the one in force by default): when and from where it was loaded, and per
    service its carrier, level, locations and price range."""
    with db.read() as conn:
        if table_id is None:
            table_id = conn.execute(select(func.max(rate_tables_t.c.id))).scalar()
            if table_id is None:
                raise NotFound("Carrier rate table", "in force (none loaded yet)")
        head = conn.execute(select(rate_tables_t).where(rate_tables_t.c.id == table_id)).first()
        if head is None:
            raise NotFound("Carrier rate table", str(table_id))
        services = conn.execute(
            select(
                rates_t.c.carrier,
                rates_t.c.service_code,
                rates_t.c.service_level,
                func.min(rates_t.c.cost),
                func.max(rates_t.c.cost),
                func.min(rates_t.c.transit_days_min),
                func.max(rates_t.c.transit_days_max),
                func.count(),
            )
            .where(rates_t.c.rate_table_id == table_id)
            .group_by(rates_t.c.carrier, rates_t.c.service_code, rates_t.c.service_level)
            .order_by(rates_t.c.service_code)
        ).all()
        locs = conn.execute(
            select(rates_t.c.service_code, rates_t.c.location)
            .where(rates_t.c.rate_table_id == table_id)
            .distinct()
            .order_by(rates_t.c.service_code, rates_t.c.location)
        ).all()
    where: dict[str, list[str]] = {}
    for code, loc in locs:
        where.setdefault(code, []).append(loc)
    return {
        "id": head.id,
        "source": head.source,
        "rows": head.row_count,
        "currency": head.currency,
        "loaded_by": head.loaded_by,
        "loaded_at": head.loaded_at,
        "services": [
            {
                "carrier": s[0],
                "service_code": s[1],
                "service_level": s[2],
                "cost_min": s[3],
                "cost_max": s[4],
                "transit_days": [s[5], s[6]],
                "rates": s[7],
                "locations": where.get(s[1], []),
            }
            for s in services
        ],
    }

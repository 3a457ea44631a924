"""docs/back-office.md's role table must say what domain/access.py decides."""

from __future__ import annotations

import re
from pathlib import Path

from openoms.domain.access import ROLE_PERMISSIONS, Permission, Role

DOC = Path(__file__).resolve().parents[2] / "docs" / "back-office.md"


def test_role_table_in_the_docs_matches_the_code() -> None:
    rows = [ln for ln in DOC.read_text().splitlines() if re.match(r"^\| .+ \(`[a-z_.]+`\) \|", ln)]
    documented: dict[Permission, list[bool]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        perm = Permission(re.search(r"`([a-z_.]+)`", cells[0]).group(1))  # type: ignore[union-attr]
        documented[perm] = [c == "yes" for c in cells[1:]]
    assert set(documented) == set(Permission)
    for perm, allowed in documented.items():
        assert allowed == [perm in ROLE_PERMISSIONS[r] for r in Role], perm

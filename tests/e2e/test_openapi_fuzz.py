"""Property-based requests generated from /openapi.json: no input may cause a server error,
and every documented response must match its schema (SQLite; the API code is the same)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from openoms.adapters.db import migrate
from openoms.adapters.db.engine import Database
from openoms.api.app import create_app
from openoms.config import Settings
from openoms.services import apikeys
from openoms.services.check import run_check
from tests.conftest import seed_basics

# Built at import: schemathesis generates its test cases from the app's schema at collection.
_dir = Path(tempfile.mkdtemp(prefix="openoms-fuzz-"))
_db = Database(f"sqlite:///{_dir / 'openoms.db'}")
migrate.upgrade(_db)
seed_basics(_db, stock={("A", "WH1"): 1000, ("B", "WH2"): 1000, ("C", "WH1"): 5})
_, _key = apikeys.create_api_key(_db, "fuzz", ["*"])
_app = create_app(Settings(database_url=_db.url), _db)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)
# X12 interchanges are text: fuzz the EDI route with generated strings like any text body.
schemathesis.serializer.alias("application/edi-x12", "text/plain")


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _db.dispose()
    shutil.rmtree(_dir, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api(case: Any) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {_key}"},
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )


def test_books_balance_after_fuzzing() -> None:
    """Runs after the fuzzing above: whatever it sent, the ledger still holds."""
    report = run_check(_db)
    assert report.ok, report.problems

"""Opaque page cursors: what encode_cursor makes decodes back; nothing else does."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain.errors import DomainError, ErrorCode
from openoms.services.common import MAX_ID, decode_cursor, encode_cursor


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_round_trip(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert "=" not in cursor and cursor.isascii()
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")  # URL-safe
    assert decode_cursor(cursor) == last_id


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_is_the_first_page(cursor: str | None) -> None:
    assert decode_cursor(cursor) is None


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "%%%%",
        "a",  # not a whole base64 quantum
        _b64("id:"),
        _b64("id"),
        _b64("xx:5"),
        _b64("ID:5"),
        _b64("id:five"),
        _b64("id:-5"),
        _b64("id:+5"),
        _b64("id: 5"),
        _b64("id:1_000"),
        _b64("id:5.0"),
        _b64("id:\u0665"),  # an Arabic-Indic five: int() would take it
        _b64(f"id:{MAX_ID + 1}"),
        _b64("id:" + "9" * 5000),  # past int()'s digit limit
        base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
        "aWQ6\u0661",
    ],
)
def test_anything_else_is_a_validation_error_on_the_cursor_field(cursor: str) -> None:
    with pytest.raises(DomainError) as info:
        decode_cursor(cursor)
    assert info.value.code == ErrorCode.VALIDATION_ERROR
    assert [(e.field, e.reason) for e in info.value.errors] == [("cursor", "is not a cursor this API returned")]


@given(st.text(max_size=40))
def test_decoding_never_fails_any_other_way(cursor: str) -> None:
    try:
        value = decode_cursor(cursor)
    except DomainError as exc:
        assert exc.code == ErrorCode.VALIDATION_ERROR
    else:
        assert value is None or 0 <= value <= MAX_ID

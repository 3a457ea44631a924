"""Customer return links: signed over order, expiry and the customer's address; refused with a
reason when cut off, edited, signed by another installation, or out of date."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.services.return_links import (
    LinkRefusal,
    ReturnLinkRefused,
    check_token,
    make_token,
    read_token,
)

KEY = b"k" * 32
TODAY = dt.date(2026, 11, 25)
UNTIL = dt.date(2027, 1, 24)


def refusal(token: str, email: str | None = "ana@example.com", today: dt.date = TODAY, key: bytes = KEY) -> LinkRefusal:
    with pytest.raises(ReturnLinkRefused) as info:
        check_token(key, token, email, today)
    return info.value.reason


def test_a_fresh_link_opens_its_order_through_the_last_day() -> None:
    token = make_token(KEY, 1234, "Ana@Example.com", UNTIL)
    assert "@" not in token and "/" not in token and len(token) < 40
    assert check_token(KEY, token, "ana@example.com ", TODAY).order_id == 1234  # address case/space ignored
    assert check_token(KEY, token, "ana@example.com", UNTIL).expires_on == UNTIL
    assert refusal(token, today=UNTIL + dt.timedelta(days=1)) is LinkRefusal.EXPIRED


def test_an_edited_order_id_or_expiry_is_tampered_not_expired_or_another_order() -> None:
    token = make_token(KEY, 1234, "ana@example.com", TODAY - dt.timedelta(days=3))
    order, expiry, sig = token.split(".")
    assert refusal(token) is LinkRefusal.EXPIRED
    later = make_token(KEY, 1234, "ana@example.com", UNTIL).split(".")[1]
    assert refusal(f"{order}.{later}.{sig}") is LinkRefusal.TAMPERED  # stretched expiry
    other = make_token(KEY, 1235, "ana@example.com", UNTIL).split(".")[0]
    assert refusal(f"{other}.{expiry}.{sig}") is LinkRefusal.TAMPERED  # another order
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert refusal(f"{order}.{expiry}.{flipped}") is LinkRefusal.TAMPERED


def test_bound_to_the_address_and_the_installation_key() -> None:
    token = make_token(KEY, 7, "ana@example.com", UNTIL)
    assert refusal(token, email="bob@example.com") is LinkRefusal.TAMPERED  # the address was changed
    assert refusal(token, email=None) is LinkRefusal.TAMPERED  # the order lost its address
    assert refusal(token, key=b"x" * 32) is LinkRefusal.TAMPERED


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "1.2",
        "1.2.3.4",
        "-1.k3x.AAAAAAAAAAAAAAAAAAAAAA",
        "0.k3x.AAAAAAAAAAAAAAAAAAAAAA",
        "1.k3x.AAAA",
        "1.K3X.AAAAAAAAAAAAAAAAAAAAAA",
        "1.k3x.AAAAAAAAAAAAAAAAAAAAA=",
        "1..AAAAAAAAAAAAAAAAAAAAAA",
        "1.k3x.AAAAAAAAAAAAAAAAAAAAA!",
        "x" * 500,
    ],
)
def test_malformed_tokens_are_refused_as_such(token: str) -> None:
    assert refusal(token) is LinkRefusal.MALFORMED


def test_every_refusal_has_a_customer_sentence() -> None:
    for reason in LinkRefusal:
        err = ReturnLinkRefused(reason)
        assert err.message.endswith(".") and "link" in err.message


@given(
    order_id=st.integers(min_value=1, max_value=2**63 - 1),
    email=st.emails(),
    days=st.integers(min_value=0, max_value=3000),
)
def test_round_trip(order_id: int, email: str, days: int) -> None:
    until = TODAY + dt.timedelta(days=days)
    token = make_token(KEY, order_id, email, until)
    assert read_token(token)[0] == order_id
    link = check_token(KEY, token, email.upper(), TODAY)
    assert (link.order_id, link.expires_on) == (order_id, until)


@given(st.integers(min_value=1, max_value=10**9))
def test_a_last_character_that_decodes_to_the_same_bytes_is_still_refused(order_id: int) -> None:
    """Base64 of 16 bytes ends in a character with four spare bits: its neighbour in the
    alphabet often decodes to the very same signature. Only the text we issued is accepted."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    token = make_token(KEY, order_id, "ana@example.com", UNTIL)
    head, sig = token.rsplit(".", 1)
    twin = sig[:-1] + alphabet[alphabet.index(sig[-1]) ^ 1]  # same top two bits: same bytes
    assert read_token(f"{head}.{twin}")[2] == read_token(token)[2]
    assert refusal(f"{head}.{twin}") is LinkRefusal.TAMPERED
    assert check_token(KEY, token, "ana@example.com", TODAY).order_id == order_id

"""Money rules: ISO 4217 codes, minor units, what fits a currency, banker's rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openoms.domain import money


@pytest.mark.parametrize("code", ["USD", "EUR", "JPY", "GBP", "KWD", "CHF", "BRL", "INR", "CLP"])
def test_real_currencies_are_known(code: str) -> None:
    assert money.is_currency(code)


@pytest.mark.parametrize(
    "code", ["usd", "Usd", "US", "USDD", "XYZ", "ABC", "", " USD", "EURO", "$", "DEM", "FRF", "XAU", "XTS", "XXX"]
)
def test_what_is_not_a_currency_code(code: str) -> None:
    assert not money.is_currency(code)


@pytest.mark.parametrize(
    ("code", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("CLP", 0), ("KWD", 3), ("BHD", 3)]
)
def test_minor_units(code: str, digits: int) -> None:
    assert money.minor_units(code) == digits


@pytest.mark.parametrize(
    ("amount", "code", "fits"),
    [
        ("19.99", "USD", True),
        ("19.9", "USD", True),
        ("19", "USD", True),
        ("19.999", "USD", False),
        ("19.990", "USD", True),  # a trailing zero is no extra precision
        ("19.9900", "USD", True),
        ("0.001", "USD", False),
        ("1E+2", "USD", True),
        ("1200", "JPY", True),
        ("1200.0", "JPY", True),
        ("1200.5", "JPY", False),
        ("1.234", "KWD", True),
        ("1.2345", "KWD", False),
        ("NaN", "USD", False),
        ("Infinity", "USD", False),
        ("-Infinity", "USD", False),
        ("sNaN", "USD", False),
    ],
)
def test_fits_currency(amount: str, code: str, fits: bool) -> None:
    assert money.fits_currency(Decimal(amount), code) is fits


@pytest.mark.parametrize(
    ("amount", "code", "rounded"),
    [
        ("0.125", "USD", "0.12"),  # half to even
        ("0.135", "USD", "0.14"),
        ("0.1251", "USD", "0.13"),
        ("-0.125", "USD", "-0.12"),
        ("2.5", "JPY", "2"),
        ("3.5", "JPY", "4"),
        ("1.0005", "KWD", "1.000"),
        ("1.0015", "KWD", "1.002"),
        ("7", "USD", "7.00"),
    ],
)
def test_quantize_rounds_half_to_even(amount: str, code: str, rounded: str) -> None:
    got = money.quantize(Decimal(amount), code)
    assert got == Decimal(rounded)
    assert str(got) == rounded  # and carries exactly the currency's minor units


# Everything the API's Amount type lets through: up to 14 digits, up to 4 decimals.
api_amounts = st.decimals(min_value=0, max_value=Decimal("9999999999.9999"), places=4, allow_nan=False)
codes = st.sampled_from(["USD", "JPY", "KWD", "EUR", "CLP", "BHD"])


@given(api_amounts, codes)
def test_fits_exactly_when_quantizing_changes_nothing(amount: Decimal, code: str) -> None:
    assert money.fits_currency(amount, code) == (money.quantize(amount, code) == amount)


@given(api_amounts, codes)
def test_quantized_amounts_fit_and_quantizing_is_idempotent(amount: Decimal, code: str) -> None:
    q = money.quantize(amount, code)
    assert money.fits_currency(q, code)
    assert money.quantize(q, code) == q
    assert abs(q - amount) <= Decimal(1).scaleb(-money.minor_units(code)) / 2

"""Money as Decimal with an ISO 4217 code; never float."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies


@lru_cache(maxsize=1)
def _currencies() -> frozenset[str]:
    """Currencies that are legal tender somewhere today (CLDR): withdrawn ones (DEM), metals
    (XAU) and the test and no-currency codes (XTS, XXX) are not money an order can be in."""
    today = dt.date.today()
    codes: set[str] = set()
    for territory in get_global("territory_currencies"):
        codes.update(get_territory_currencies(territory, today, tender=True))
    return frozenset(codes)


def is_currency(code: str) -> bool:
    return code in _currencies()


def minor_units(code: str) -> int:
    """Digits after the decimal point the currency uses (USD 2, JPY 0, KWD 3)."""
    return int(get_currency_precision(code))


def fits_currency(amount: Decimal, code: str) -> bool:
    """True when ``amount`` has no more decimals than ``code`` allows (19.999 USD does not)."""
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int):
        return False
    return -exponent <= minor_units(code) or amount == amount.quantize(Decimal(1).scaleb(-minor_units(code)))


def quantize(amount: Decimal, code: str) -> Decimal:
    """Round to the currency's minor unit, half-even (banker's rounding)."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(code)), rounding=ROUND_HALF_EVEN)

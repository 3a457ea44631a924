"""Provider name → gateway. A new provider is one line in ``GATEWAYS``."""

from __future__ import annotations

from collections.abc import Callable

from openoms.adapters.payments.base import PaymentGateway
from openoms.adapters.payments.manual import ManualGateway
from openoms.adapters.payments.test import TestGateway
from openoms.config import Settings
from openoms.domain.errors import validation_error

#: Every provider OpenOMS knows, by the name stored on payments. A factory gets the settings.
GATEWAYS: dict[str, Callable[[Settings], PaymentGateway]] = {
    "manual": ManualGateway,
    "test": TestGateway,
}


def provider_names() -> list[str]:
    return sorted(GATEWAYS)


def get_gateway(name: str, settings: Settings) -> PaymentGateway:
    """The gateway for a provider name; an unknown name is bad input (field ``provider``)."""
    factory = GATEWAYS.get(name)
    if factory is None:
        raise validation_error("provider", f"unknown payment provider {name!r}; known: {', '.join(provider_names())}")
    return factory(settings)

"""Domain errors with stable codes that adapters map to HTTP statuses and CLI exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNKNOWN_SKU = "unknown_sku"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_LOCATION = "unknown_location"
    ALREADY_EXISTS = "already_exists"
    INSUFFICIENT_STOCK = "insufficient_stock"
    ILLEGAL_TRANSITION = "illegal_transition"
    HOLD_CONFLICT = "hold_conflict"
    STOCK_CONFLICT = "stock_conflict"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    PAYMENT_PROVIDER_UNAVAILABLE = "payment_provider_unavailable"  # retry with the same key


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` is a path such as ``lines[2].sku``."""

    field: str
    reason: str


@dataclass
class DomainError(Exception):
    """A refused command. Carries enough for a caller to fix the input and try again."""

    code: ErrorCode
    message: str
    errors: list[FieldError] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class NotFound(DomainError):
    def __init__(self, what: str, key: object) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} {key!s} does not exist")


class IllegalTransition(DomainError):
    def __init__(self, message: str, current: str, attempted: str) -> None:
        super().__init__(
            ErrorCode.ILLEGAL_TRANSITION,
            message,
            extra={"current_status": current, "attempted": attempted},
        )


def validation_error(field_name: str, reason: str, code: ErrorCode = ErrorCode.VALIDATION_ERROR) -> DomainError:
    """A single-field rejection, the common case."""
    return DomainError(code, f"{field_name}: {reason}", [FieldError(field_name, reason)])

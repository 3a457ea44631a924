"""Back-office roles and what each may do.

One table decides every page and action, so that "who can cancel an order?" has one answer,
shown on the users page and checked by the routes. See docs/back-office.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from openoms.domain.errors import DomainError, ErrorCode


class Role(StrEnum):
    ADMIN = "admin"
    OPERATIONS = "operations"
    CUSTOMER_SERVICE = "customer_service"
    WAREHOUSE = "warehouse"
    FINANCE = "finance"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: Mapping[Role, str] = {
    Role.ADMIN: "Administrator",
    Role.OPERATIONS: "Operations",
    Role.CUSTOMER_SERVICE: "Customer service",
    Role.WAREHOUSE: "Warehouse",
    Role.FINANCE: "Finance",
}


class Permission(StrEnum):
    DASHBOARD_VIEW = "dashboard.view"
    ORDERS_VIEW = "orders.view"
    ORDERS_CREATE = "orders.create"  # phone orders
    ORDERS_NOTE = "orders.note"
    ORDERS_HOLD = "orders.hold"  # place and release holds
    ORDERS_CANCEL = "orders.cancel"  # cancel orders and lines
    ORDERS_REROUTE = "orders.reroute"  # route an order again
    ORDERS_REJECT_LINE = "orders.reject_line"  # a location will not ship a line: route it elsewhere
    ORDERS_RELEASE = "orders.release"  # hand an allocated order to its locations
    FULFILMENT_VIEW = "fulfilment.view"  # the locations' queues, fulfilment orders, shipments
    FULFILMENT_WORK = "fulfilment.work"  # accept, pick, pack, ship, reject a fulfilment line
    TRACKING_RESOLVE = "tracking.resolve"  # acknowledge a carrier exception: clears the dashboard alert
    INVENTORY_VIEW = "inventory.view"
    INVENTORY_RECEIVE = "inventory.receive"
    INVENTORY_ADJUST = "inventory.adjust"
    INVENTORY_TRANSFER = "inventory.transfer"  # plan, ship, receive and cancel transfers
    INVENTORY_PLAN = "inventory.plan"  # announce inbound lots, set safety stock and reorder points
    CATALOG_VIEW = "catalog.view"
    CATALOG_EDIT = "catalog.edit"  # products, locations, channels
    USERS_MANAGE = "users.manage"
    API_KEYS_MANAGE = "api_keys.manage"
    AUDIT_VIEW = "audit.view"
    ROUTING_VIEW = "routing.view"  # sourcing rules and carrier rates
    ROUTING_EDIT = "routing.edit"  # new rules versions, rate tables
    OUTBOX_MANAGE = "outbox.manage"  # undelivered events and customer e-mails, retrying them
    PAYMENTS_MANAGE = "payments.manage"  # record manual payments, capture, void, work the review queue
    REFUNDS_ISSUE = "refunds.issue"  # refunds without a return (appeasements), with a reason
    RETURNS_VIEW = "returns.view"  # the returns queue and RMAs
    RETURNS_MANAGE = "returns.manage"  # create, approve, reject, cancel and close returns (RMA)
    RETURNS_RECEIVE = "returns.receive"  # receive and inspect returned units: restock, refurbish, write off
    RETURNS_REFUND = "returns.refund"  # issue a return's refund, as its quote says, to the payment method

    @property
    def label(self) -> str:
        return PERMISSION_LABELS[self]


PERMISSION_LABELS: Mapping[Permission, str] = {
    Permission.DASHBOARD_VIEW: "See the dashboard",
    Permission.ORDERS_VIEW: "See orders",
    Permission.ORDERS_CREATE: "Create phone orders",
    Permission.ORDERS_NOTE: "Add notes to orders",
    Permission.ORDERS_HOLD: "Place and release holds",
    Permission.ORDERS_CANCEL: "Cancel orders and lines",
    Permission.ORDERS_REROUTE: "Route orders again",
    Permission.ORDERS_REJECT_LINE: "Record that a location rejects a line",
    Permission.ORDERS_RELEASE: "Release orders to fulfilment",
    Permission.FULFILMENT_VIEW: "See fulfilment queues, fulfilment orders and shipments",
    Permission.FULFILMENT_WORK: "Accept, pick, pack, ship and reject fulfilment work",
    Permission.TRACKING_RESOLVE: "Acknowledge carrier tracking exceptions",
    Permission.INVENTORY_VIEW: "See inventory and its ledger",
    Permission.INVENTORY_RECEIVE: "Receive stock",
    Permission.INVENTORY_ADJUST: "Adjust and count stock",
    Permission.INVENTORY_TRANSFER: "Transfer stock between locations",
    Permission.INVENTORY_PLAN: "Announce inbound stock and set safety stock and reorder points",
    Permission.CATALOG_VIEW: "See products, locations and channels",
    Permission.CATALOG_EDIT: "Edit products, locations and channels",
    Permission.USERS_MANAGE: "Manage users",
    Permission.API_KEYS_MANAGE: "Manage API keys",
    Permission.AUDIT_VIEW: "Read the audit log",
    Permission.ROUTING_VIEW: "See routing rules and carrier rates",
    Permission.ROUTING_EDIT: "Change routing rules and load carrier rates",
    Permission.OUTBOX_MANAGE: "See undelivered events and e-mails, and retry them",
    Permission.PAYMENTS_MANAGE: "Record payments, capture and void them, work the payment review queue",
    Permission.REFUNDS_ISSUE: "Issue refunds without a return (appeasements)",
    Permission.RETURNS_VIEW: "See returns",
    Permission.RETURNS_MANAGE: "Create, approve, reject and cancel returns",
    Permission.RETURNS_RECEIVE: "Receive and inspect returned units",
    Permission.RETURNS_REFUND: "Refund returns",
}

P = Permission
_EVERYONE = frozenset({P.DASHBOARD_VIEW, P.ORDERS_VIEW, P.INVENTORY_VIEW, P.CATALOG_VIEW, P.FULFILMENT_VIEW})

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    # Runs the flow: holds, cancellations, re-routing, release to fulfilment (and stepping in
    # for a location's fulfilment work), stock corrections, the network's set-up
    # (routing rules and rates are read here; changing them is for administrators).
    Role.OPERATIONS: _EVERYONE
    | {
        P.ORDERS_CREATE,
        P.ORDERS_NOTE,
        P.ORDERS_HOLD,
        P.ORDERS_CANCEL,
        P.ORDERS_REROUTE,
        P.ORDERS_REJECT_LINE,
        P.ORDERS_RELEASE,
        P.FULFILMENT_WORK,
        P.TRACKING_RESOLVE,
        P.ROUTING_VIEW,
        P.INVENTORY_RECEIVE,
        P.INVENTORY_ADJUST,
        P.INVENTORY_TRANSFER,
        P.INVENTORY_PLAN,
        P.CATALOG_EDIT,
        P.AUDIT_VIEW,
        P.RETURNS_VIEW,
        P.RETURNS_MANAGE,
        P.RETURNS_RECEIVE,
        P.RETURNS_REFUND,
    },
    # Talks to customers: takes phone orders, cancels on request, holds for a question, and
    # follows up a parcel the carrier is stuck on (acknowledges the tracking exception).
    Role.CUSTOMER_SERVICE: _EVERYONE
    | {P.ORDERS_CREATE, P.ORDERS_NOTE, P.ORDERS_HOLD, P.ORDERS_CANCEL, P.TRACKING_RESOLVE}
    | {P.RETURNS_VIEW, P.RETURNS_MANAGE, P.RETURNS_REFUND},
    # Owns the physical stock: receipts, counts and transfers, and saying when a location
    # cannot ship a line (damaged, not found); works the fulfilment orders (accept, pick, pack,
    # ship); not customers' orders otherwise (releasing to fulfilment is operations' call), nor
    # stock policy (safety stock, reorder points: operations plans those).
    Role.WAREHOUSE: _EVERYONE
    | {
        P.ORDERS_NOTE,
        P.ORDERS_REJECT_LINE,
        P.FULFILMENT_WORK,
        P.INVENTORY_RECEIVE,
        P.INVENTORY_ADJUST,
        P.INVENTORY_TRANSFER,
        P.RETURNS_VIEW,
        P.RETURNS_RECEIVE,
    },
    # Watches the money: holds (payment, credit) and the audit trail, no stock changes.
    # Payments and refunds are finance's (docs/adr/0025-payments.md): customer service asks them.
    Role.FINANCE: _EVERYONE
    | {P.ORDERS_NOTE, P.ORDERS_HOLD, P.AUDIT_VIEW, P.PAYMENTS_MANAGE, P.REFUNDS_ISSUE}
    | {P.RETURNS_VIEW, P.RETURNS_REFUND},
}


def can(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]


class Forbidden(DomainError):
    def __init__(self, role: Role, permission: Permission) -> None:
        super().__init__(
            ErrorCode.FORBIDDEN,
            f"Your role ({role.label}) may not {permission.label.lower()}; ask an administrator if you need to.",
            extra={"permission": permission.value, "role": role.value},
        )
        self.role = role
        self.permission = permission


def require(role: Role, permission: Permission) -> None:
    if not can(role, permission):
        raise Forbidden(role, permission)


#: Failed sign-ins allowed per e-mail (and per client address) in the window before refusing.
MAX_FAILED_SIGN_INS = 5
SIGN_IN_WINDOW_SECONDS = 15 * 60
MIN_PASSWORD_LENGTH = 10


def check_password_strength(password: str) -> str | None:
    """A reason the password is refused, or None. Length beats composition rules (NIST 800-63B)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 256:
        return "must be at most 256 characters"
    if password.strip() == "":
        return "must not be only spaces"
    return None

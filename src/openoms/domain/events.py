"""Past-tense domain events: written to the order timeline and the outbox in the same unit of
work as the change they describe."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    ORDER_PLACED = "order.placed"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_LINE_CANCELLED = "order.line_cancelled"
    ORDER_HOLD_PLACED = "order.hold_placed"
    ORDER_HOLD_RELEASED = "order.hold_released"
    ORDER_NOTE_ADDED = "order.note_added"
    ORDER_REROUTED = "order.rerouted"
    ORDER_BACKORDERED = "order.backordered"
    ORDER_BACKORDER_ALLOCATED = "order.backorder_allocated"  # waiting units reserved on receipt
    ORDER_RELEASED = "order.released"
    FULFILMENT_PROGRESS = "fulfilment_order.progress"
    ORDER_READY_FOR_PICKUP = "order.ready_for_pickup"  # the customer is told to come (with the code)
    ORDER_PICKED_UP = "order.picked_up"
    PICKUP_CUSTOMER_ARRIVED = "order.customer_arrived"  # curbside: the customer waits outside
    FULFILMENT_DROPSHIP_REQUESTED = "fulfilment_order.dropship_requested"
    SHIPMENT_CREATED = "shipment.created"
    SHIPMENT_TRACKING = "shipment.tracking"  # a package's tracking status changed (or its alert cleared)
    SHIPMENT_EXCEPTION = "shipment.exception"  # a carrier exception raised the dashboard alert
    SHIPMENT_EXCEPTION_ACKNOWLEDGED = "shipment.exception_acknowledged"  # a person cleared the alert
    SHIPMENT_DELIVERED = "shipment.delivered"  # every package delivered; carries the promise outcome
    NOTIFICATION_SENT = "notification.sent"  # timeline only: an e-mail went to the customer
    NOTIFICATION_FAILED = "notification.failed"  # timeline only: the first failed try, retried by the worker
    STOCK_RESERVED = "stock.reserved"
    STOCK_RELEASED = "stock.released"
    STOCK_ADJUSTED = "stock.adjusted"
    STOCK_RECEIVED = "stock.received"
    STOCK_COUNTED = "stock.counted"
    STOCK_LOW = "stock.low"  # a stock row crossed to or below its reorder point (once per crossing)
    STOCK_POLICY_CHANGED = "stock.policy_changed"  # safety stock or reorder point changed
    STOCK_TRANSFERRED_OUT = "stock.transferred_out"
    STOCK_TRANSFERRED_IN = "stock.transferred_in"
    INBOUND_RECEIVED = "inbound.received"  # units received against an inbound lot
    TRANSFER_SHIPPED = "transfer.shipped"
    TRANSFER_RECEIVED = "transfer.received"  # units received; ``complete`` when nothing is left in transit
    TRANSFER_CANCELLED = "transfer.cancelled"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_FAILED = "payment.failed"  # declined: the order goes on payment hold
    PAYMENT_ACTION_REQUIRED = "payment.action_required"  # the customer must act (3-D Secure)
    PAYMENT_PENDING = "payment.pending"  # accepted, answer later (or an expected manual payment)
    PAYMENT_UNAVAILABLE = "payment.provider_unavailable"  # timeline only: the provider could not be reached
    PAYMENT_CAPTURE_REQUESTED = "payment.capture_requested"  # a shipment left: the worker captures its value
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_CAPTURE_FAILED = "payment.capture_failed"
    PAYMENT_VOIDED = "payment.voided"
    PAYMENT_DISPUTED = "payment.disputed"  # a chargeback: flagged for review
    PAYMENT_DISPUTE_CLOSED = "payment.dispute_closed"
    PAYMENT_EVENT = "payment.event"  # timeline only: another provider notification
    REFUND_REQUESTED = "refund.requested"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    RETURN_REQUESTED = "return.requested"
    RETURN_APPROVED = "return.approved"
    RETURN_REJECTED = "return.rejected"
    RETURN_CANCELLED = "return.cancelled"
    RETURN_LABEL_ISSUED = "return.label_issued"
    RETURN_RECEIVED = "return.received"  # units came back and were inspected (``complete`` when all did)
    RETURN_REFUNDED = "return.refunded"
    RETURN_REFUND_FAILED = "return.refund_failed"  # the provider refused: the return is unchanged
    RETURN_CLOSED = "return.closed"
    RETURN_EXCHANGE_CREATED = "return.exchange_created"  # a replacement order was captured for it

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
    SHIPMENT_CREATED = "shipment.created"
    SHIPMENT_TRACKING = "shipment.tracking"  # a package's tracking status changed (or its alert cleared)
    SHIPMENT_EXCEPTION = "shipment.exception"  # a carrier exception raised the dashboard alert
    SHIPMENT_DELIVERED = "shipment.delivered"  # every package delivered; carries the promise outcome
    STOCK_RESERVED = "stock.reserved"
    STOCK_RELEASED = "stock.released"
    STOCK_ADJUSTED = "stock.adjusted"
    STOCK_RECEIVED = "stock.received"
    STOCK_COUNTED = "stock.counted"

"""OpenOMS: the system of record for the commercial life of an order across every channel."""

__version__ = "0.1.0"

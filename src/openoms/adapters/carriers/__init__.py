"""Carrier data: rate tables from CSV, coordinates for addresses, the demo network."""

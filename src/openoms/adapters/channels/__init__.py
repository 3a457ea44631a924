"""Sales-channel adapters: one module per platform or format, mapping to the canonical order."""

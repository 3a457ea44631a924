"""Pure business rules: no framework, database or I/O imports allowed here."""

"""Reports and exports over time entries (summary, detailed list, CSV/XLSX).

Read-only: nothing here writes. Aggregation happens in SQL (see ``summary``);
the organization's rounding rule is applied per entry in SQL (``rounding``),
never to the stored times.
"""

"""Models of ``apps.time_entries``: Timers, manual entries, rates and reports (tenant schema)."""

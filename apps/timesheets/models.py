"""Models of ``apps.timesheets``: Periods, submission and approvals (tenant schema)."""

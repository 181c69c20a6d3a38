"""The Reports page of the web app (``/reports/``), beside the reports API."""

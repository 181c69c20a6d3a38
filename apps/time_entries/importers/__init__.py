"""Import of time entries from Toggl Track and Clockify CSV exports."""

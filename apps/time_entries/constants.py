"""Time entry enums."""

from django.db import models


class EntrySource(models.TextChoices):
    TIMER = "timer", "Timer"
    MANUAL = "manual", "Manual"
    IMPORT = "import", "Import"
    SUGGESTION = "suggestion", "Suggestion"


class IdleResolution(models.TextChoices):
    PENDING = "pending", "Pending"
    KEPT = "kept", "Kept"
    DISCARDED = "discarded", "Discarded"
    DISCARDED_CONTINUED = "discarded_and_continued", "Discarded and continued"

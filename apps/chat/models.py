"""Models of ``apps.chat``: Channels, messages, reactions and read markers (tenant schema)."""

"""Models of ``apps.ai_services``:

Suggestions, natural-language entries and insights (tenant schema).
"""

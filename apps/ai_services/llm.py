"""A minimal client for OpenAI-compatible ``POST /chat/completions`` providers.

Optional by design: NovaTime works with no network and no key. The caller
decides *whether* data may leave (the organization's ``ai_external_llm_enabled``
and the settings); this module only talks the protocol, with a timeout per
attempt, a few retries with exponential backoff on transport errors, 429 and
5xx, and one exception type (:class:`LLMError`) for every failure, so the
caller can fall back to the local summarizer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

RETRIES = 2
_RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


class LLMError(Exception):
    """The provider could not produce an answer (after retries)."""


def configured() -> bool:
    return bool(settings.LLM_BASE_URL and settings.LLM_API_KEY)


def chat_completion(
    messages: list[dict[str, str]],
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model: str | None = None,
    timeout: float | None = None,
    retries: int = RETRIES,
    backoff: float | None = None,
    max_tokens: int = 600,
) -> str:
    """The assistant message's text for ``messages``; :class:`LLMError` on failure."""
    base_url = (base_url or settings.LLM_BASE_URL).rstrip("/")
    api_key = api_key or settings.LLM_API_KEY
    timeout = timeout if timeout is not None else settings.LLM_TIMEOUT_SECONDS
    backoff = (
        backoff if backoff is not None else getattr(settings, "NOVATIME_LLM_RETRY_BACKOFF", 0.5)
    )
    body: dict[str, Any] = {
        "model": model or settings.LLM_MODEL,
        "messages": messages,
        "temperature": 0.2,
        "max_tokens": max_tokens,
    }
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    last_error = "no attempt"
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(5.0, timeout))) as client:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                response = client.post(f"{base_url}/chat/completions", json=body, headers=headers)
            except httpx.HTTPError as exc:  # timeouts, refused connections, protocol errors
                last_error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "ai.llm_transport_error", extra={"attempt": attempt, "error": last_error}
                )
                continue
            if response.status_code in _RETRY_STATUSES:
                last_error = f"HTTP {response.status_code}"
                logger.warning(
                    "ai.llm_retryable_status",
                    extra={"attempt": attempt, "status": response.status_code},
                )
                continue
            if response.status_code != 200:
                raise LLMError(f"HTTP {response.status_code}")
            try:
                text = response.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise LLMError("Malformed chat-completions response.") from exc
            if not isinstance(text, str) or not text.strip():
                raise LLMError("Empty answer.")
            return text.strip()
    raise LLMError(last_error)

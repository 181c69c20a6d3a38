"""Markdown → safe HTML for chat messages, and the mention syntax.

Bodies are stored raw and rendered on output: CommonMark (+ tables and
strikethrough) with raw HTML disabled, then sanitised with nh3 (an allow-list
of tags, attributes and URL schemes; ``rel="noopener noreferrer"`` on links).
Both steps are needed: markdown-it escapes raw HTML but still emits any link
target the author wrote (``javascript:`` is refused by markdown-it's own
validator, but defence in depth costs microseconds), and a future change of
renderer options must not open an XSS hole.

Mentions are ``@[<user uuid>]`` — the syntax the task comments already use, so
clients have one autocomplete format; they render as
``<span class="mention" data-user-id="…">``.
"""

from __future__ import annotations

import functools
import re
import uuid
from typing import Final

import nh3
from markdown_it import MarkdownIt

#: ``@[<user uuid>]`` in a message body mentions that user.
MENTION_RE: Final = re.compile(r"@\[([0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\]")

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough", "table"])

ALLOWED_TAGS: Final = frozenset(
    {
        "p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
        "table", "thead", "tbody", "tr", "th", "td", "span",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES: Final = {
    "a": {"href", "title"},
    "span": {"class", "data-user-id"},
    "code": {"class"},
    "th": {"style"},
    "td": {"style"},
}
ALLOWED_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})


def mentions_in(body: str) -> list[uuid.UUID]:
    """User ids mentioned in ``body``, first-mention order, no duplicates."""
    return list(dict.fromkeys(uuid.UUID(m) for m in MENTION_RE.findall(body)))


@functools.lru_cache(maxsize=4096)
def render_markdown(body: str) -> str:
    """Sanitised HTML of a message body (cached: history pages repeat)."""
    html = _MARKDOWN.render(body)
    html = MENTION_RE.sub(
        lambda m: f'<span class="mention" data-user-id="{m.group(1).lower()}">@{m.group(1)}</span>',
        html,
    )
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel="noopener noreferrer",
    )

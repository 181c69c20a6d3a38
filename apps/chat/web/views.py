"""The Chat pages (``/chat/``, ``/chat/<channel id>/``, a thread) and their forms.

Thin like the API's views (apps/chat/api/views.py): pages read through
:mod:`apps.chat.selectors` (the channel list with unread counts of
``GET /api/v1/chat/channels/``, the history of ``GET .../messages/``, the
visibility rules: a channel the member may not see is a 404, like the API),
forms call the API's services (``message_create``, ``reaction_add`` /
``_remove``, ``channel_create``, ``direct_open``) with the caller's
:class:`Membership` as ``actor``. Markdown is the API's rendering
(:func:`apps.chat.rendering.render_markdown`: markdown-it, then nh3).

Opening a channel moves the reader's marker to its newest message with the
service of ``POST .../read/`` (``channel_read_through``, given the message
the page already loaded) — only when the marker is behind it (known from
the list query that loads the channel), so repeated GETs (and the live
re-fetches) write nothing and stay cheap. A refused write re-renders the page
with the service's message next to the field it names and what was typed
kept. Forms work without JavaScript (POST, then redirect).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.chat import selectors
from apps.chat.constants import ChannelKind
from apps.chat.models import Channel, Message
from apps.chat.rendering import render_markdown
from apps.chat.services import channels as channel_services
from apps.chat.services import messages as message_services
from apps.chat.services.events import reactions_summary
from apps.common.errors import ApplicationError
from apps.iam.web.access import member_page, refused
from apps.organizations.constants import MembershipStatus
from apps.organizations.models import Membership
from apps.organizations.permissions import may, require

from .forms import (
    QUICK_REACTIONS,
    ChannelForm,
    DirectForm,
    MessageForm,
    ReactionForm,
    form_error_fields,
)

#: At most this many channels in the list (the page's size stays bounded).
MAX_CHANNELS = 200
#: Messages per history page ("Older messages" pages on).
PAGE_SIZE = 50
#: The newest replies a thread page shows.
MAX_REPLIES = 200
#: People offered by "Direct message".
MAX_PEOPLE = 500


# --- helpers --------------------------------------------------------------------------

#: The reaction list's options: the same for every message of every page.
QUICK_REACTION_OPTIONS = format_html_join(
    "", '<option value="{}">{}</option>', ((emoji, emoji) for emoji in QUICK_REACTIONS)
)


def _message_context() -> dict[str, Any]:
    """What chat/_message.html needs beside the message: translated once a
    page instead of once a message (a history page holds 50)."""
    return {
        "quick_reaction_options": QUICK_REACTION_OPTIONS,
        "message_labels": {
            "edited": _("(edited)"),
            "reaction": _("Reaction"),
            "react": _("React"),
            "reply": _("Reply in thread"),
        },
    }


def _names(actor: Membership, user_ids: set[Any]) -> dict[str, str]:
    """Display names of the organization's members ``user_ids`` (one query)."""
    if not user_ids:
        return {}
    rows = Membership.objects.filter(
        organization_id=actor.organization_id, user_id__in=user_ids
    ).select_related("user")
    return {str(m.user_id): m.user.full_name for m in rows}


def _people(actor: Membership) -> list[tuple[str, str]]:
    """Active members other than the actor, by name: whom one may write to."""
    rows = (
        Membership.objects.filter(
            organization_id=actor.organization_id, status=MembershipStatus.ACTIVE
        )
        .exclude(user_id=actor.user_id)
        .select_related("user")
        .order_by("user__first_name", "user__last_name", "user__email")[:MAX_PEOPLE]
    )
    return [(str(m.user_id), m.user.full_name) for m in rows]


def _channel(actor: Membership, channel_id: Any) -> Channel:
    """The channel with the caller's ``my_last_read_at`` / ``unread_count`` (the
    list statement of the API, one row): 404 when hidden, like the API."""
    channel = selectors.channel_list(actor=actor).filter(pk=channel_id).first()
    if channel is None:
        raise Http404("No such channel.")
    return channel


def _title(channel: Channel, actor: Membership, names: dict[str, str]) -> str:
    peer = selectors.direct_peer(channel, actor.user_id)
    if peer is not None:
        return names.get(peer) or _("Former member")
    return channel.name


def _decorate(messages: list[Message], actor: Membership, names: dict[str, str]) -> None:
    """What a message shows: the API's sanitised HTML, the author's name and
    the reactions (``[{emoji, count, users, mine}]``, prefetched)."""
    me = str(actor.user_id)
    for message in messages:
        # render_markdown's output is nh3-sanitised (apps/chat/rendering.py).
        message.html = mark_safe(render_markdown(message.body))  # type: ignore[attr-defined]
        name = names.get(str(message.author_id)) or _("Former member")
        message.author_name = name  # type: ignore[attr-defined]
        message.reaction_list = [  # type: ignore[attr-defined]
            {**r, "mine": me in r["users"]} for r in reactions_summary(message.reactions.all())
        ]


def _form_with(form: Any, error: ApplicationError | None) -> ApplicationError | None:
    """Put ``error``'s field messages next to ``form``'s fields; return the
    error if it names no field of the form (shown above the form)."""
    if error is None:
        return None
    form.is_valid()
    placed = False
    for name, messages in ((error.extra or {}).get("fields") or {}).items():
        if name in form.fields and not form.fields[name].widget.is_hidden:
            placed = True
            for message in messages:
                if message not in form.errors.get(name, []):
                    form.add_error(name, str(message))
    return None if placed else error


def _invalid(form: Any) -> ApplicationError:
    fields = form_error_fields(form)
    return ApplicationError(next(iter(fields.values()))[0], extra={"fields": fields})


def _no_channel(request: HttpRequest) -> HttpResponse:
    return refused(request, _("No such channel."), 404)


# --- the channel list -------------------------------------------------------------------


def _channels_page(
    request: HttpRequest,
    actor: Membership,
    *,
    channel_form: ChannelForm | None = None,
    direct_form: DirectForm | None = None,
    error: ApplicationError | None = None,
) -> HttpResponse:
    channels = list(selectors.channel_list(actor=actor)[:MAX_CHANNELS])
    may_write = may(actor, "chat.write")
    people = _people(actor) if may_write else []
    names = dict(people)
    peers = {selectors.direct_peer(c, actor.user_id) for c in channels} - {None}
    names.update(_names(actor, {p for p in peers if p not in names}))
    for channel in channels:
        channel.title = _title(channel, actor, names)  # type: ignore[attr-defined]
    channel_form = channel_form or ChannelForm()
    direct_form = direct_form or DirectForm(people=people)
    context = {
        "actor": actor,
        "rooms": [c for c in channels if c.kind != ChannelKind.DIRECT],
        "directs": [c for c in channels if c.kind == ChannelKind.DIRECT],
        "may_write": may_write,
        "channel_form": channel_form,
        "direct_form": direct_form,
        "channel_error": _form_with(channel_form, error) if channel_form.is_bound else None,
        "direct_error": _form_with(direct_form, error) if direct_form.is_bound else None,
    }
    status = error.status_code if error is not None else 200
    return render(request, "chat/channels.html", context, status=status)


@require_GET
@member_page
def channels_page(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    return _channels_page(request, actor)


@require_POST
@member_page
def channel_new(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    form = ChannelForm(request.POST)
    try:
        require(actor, "chat.write")  # before the input, like the API
        if not form.is_valid():
            raise _invalid(form)
        channel = channel_services.channel_create(
            actor=actor, name=form.cleaned_data["name"], kind=form.cleaned_data["kind"]
        )
    except ApplicationError as exc:
        return _channels_page(request, actor, channel_form=form, error=exc)
    return HttpResponseRedirect(reverse("chat_web:channel", args=[channel.pk]))


@require_POST
@member_page
def direct_new(request: HttpRequest, *, actor: Membership) -> HttpResponse:
    form = DirectForm(request.POST, people=_people(actor))
    try:
        if not form.is_valid():
            raise _invalid(form)
        channel, _created = channel_services.direct_open(
            actor=actor, user_id=form.cleaned_data["user"]
        )
    except ApplicationError as exc:
        return _channels_page(request, actor, direct_form=form, error=exc)
    return HttpResponseRedirect(reverse("chat_web:channel", args=[channel.pk]))


# --- a channel ---------------------------------------------------------------------------


def _mark_read(actor: Membership, channel: Channel, newest: Message) -> None:
    """The service of ``POST .../read/``, only when the marker is behind the
    newest message shown (a GET that writes: once, then nothing)."""
    last_read_at = getattr(channel, "my_last_read_at", None)
    if last_read_at is not None and last_read_at >= newest.created_at:
        return
    message_services.channel_read_through(actor=actor, channel=channel, message=newest)


def _history(channel: Channel, before: str | None) -> tuple[list[Message], bool]:
    """A page of top-level messages, newest first (``PAGE_SIZE``), older than
    the message ``before`` when given; and whether older ones exist."""
    query = selectors.message_list(channel=channel)
    if before:
        try:
            anchor_id = uuid.UUID(before)
        except ValueError as error:
            raise Http404("No such message.") from error
        anchor = (
            Message.all_objects.filter(pk=anchor_id, channel=channel)
            .values_list("created_at", flat=True)
            .first()
        )
        if anchor is None:
            raise Http404("No such message.")
        # A channel's created_at values are strictly increasing (message_create).
        query = query.filter(created_at__lt=anchor)
    page = list(query.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    return page[:PAGE_SIZE], len(page) > PAGE_SIZE


def _channel_page(
    request: HttpRequest,
    actor: Membership,
    channel_id: Any,
    *,
    form: MessageForm | None = None,
    error: ApplicationError | None = None,
) -> HttpResponse:
    channel = _channel(actor, channel_id)
    before = request.GET.get("before") or None
    page, has_older = _history(channel, before)
    if page and before is None and request.method == "GET":
        _mark_read(actor, channel, page[0])
    messages = list(reversed(page))
    people = {m.author_id for m in messages}
    peer = selectors.direct_peer(channel, actor.user_id)
    names = _names(actor, people | ({peer} if peer else set()))
    _decorate(messages, actor, names)
    form = form or MessageForm()
    context = {
        "actor": actor,
        "channel": channel,
        "title": _title(channel, actor, names),
        "messages": messages,
        "has_older": has_older,
        "oldest": messages[0] if messages else None,
        "before": before,
        "form": form,
        "error": _form_with(form, error) if form.is_bound else error,
        "may_write": may(actor, "chat.write"),
        **_message_context(),
    }
    status = error.status_code if error is not None else 200
    return render(request, "chat/channel.html", context, status=status)


@require_GET
@member_page
def channel_page(request: HttpRequest, channel_id: Any, *, actor: Membership) -> HttpResponse:
    try:
        return _channel_page(request, actor, channel_id)
    except Http404:
        return _no_channel(request)


def _thread_page(
    request: HttpRequest,
    actor: Membership,
    channel_id: Any,
    message_id: Any,
    *,
    form: MessageForm | None = None,
    error: ApplicationError | None = None,
) -> HttpResponse:
    channel = _channel(actor, channel_id)
    root = selectors.message_list(channel=channel).filter(pk=message_id).first()
    if root is None:
        raise Http404("No such message.")
    replies = list(
        selectors.message_list(channel=channel, parent_id=root.pk).order_by("-created_at", "-id")[
            :MAX_REPLIES
        ]
    )
    replies.reverse()
    peer = selectors.direct_peer(channel, actor.user_id)
    people = {root.author_id} | {m.author_id for m in replies} | ({peer} if peer else set())
    names = _names(actor, people)
    _decorate([root, *replies], actor, names)
    form = form or MessageForm(initial={"parent": root.pk})
    context = {
        "actor": actor,
        "channel": channel,
        "title": _title(channel, actor, names),
        "root": root,
        "replies": replies,
        "form": form,
        "error": _form_with(form, error) if form.is_bound else error,
        "may_write": may(actor, "chat.write"),
        **_message_context(),
    }
    status = error.status_code if error is not None else 200
    return render(request, "chat/thread.html", context, status=status)


@require_GET
@member_page
def thread_page(
    request: HttpRequest, channel_id: Any, message_id: Any, *, actor: Membership
) -> HttpResponse:
    try:
        return _thread_page(request, actor, channel_id, message_id)
    except Http404:
        return refused(request, _("No such message."), 404)


@require_POST
@member_page
def send(request: HttpRequest, channel_id: Any, *, actor: Membership) -> HttpResponse:
    try:
        channel = _channel(actor, channel_id)
    except Http404:
        return _no_channel(request)
    form = MessageForm(request.POST)
    parent = None
    try:
        require(actor, "chat.write")  # before the input, like the API
        if not form.is_valid():
            raise _invalid(form)
        parent = form.cleaned_data.get("parent")
        message_services.message_create(
            actor=actor, channel=channel, body=form.cleaned_data["body"], parent_id=parent
        )
    except ApplicationError as exc:
        parent = form.cleaned_data.get("parent") if hasattr(form, "cleaned_data") else None
        try:
            if parent is not None:
                return _thread_page(request, actor, channel.pk, parent, form=form, error=exc)
        except Http404:
            pass  # a parent that is not a live top-level message: the channel page says so
        return _channel_page(request, actor, channel.pk, form=form, error=exc)
    if parent is not None:
        return HttpResponseRedirect(reverse("chat_web:thread", args=[channel.pk, parent]))
    return HttpResponseRedirect(reverse("chat_web:channel", args=[channel.pk]))


# --- reactions ---------------------------------------------------------------------------


def _react(request: HttpRequest, actor: Membership, message_id: Any, *, add: bool) -> HttpResponse:
    try:
        message = selectors.message_get_for_member(actor=actor, message_id=message_id)
    except Http404:
        return refused(request, _("No such message."), 404)
    # Back to the thread the form was in (its root), else to the channel.
    thread = message.parent_id or (message.pk if request.POST.get("in_thread") else None)
    form = ReactionForm(request.POST)
    try:
        require(actor, "chat.write")
        if not form.is_valid():
            raise _invalid(form)
        emoji = form.cleaned_data["emoji"]
        if add:
            message_services.reaction_add(actor=actor, message=message, emoji=emoji)
        else:
            # Already gone (another tab): the page shows it so.
            with contextlib.suppress(Http404):
                message_services.reaction_remove(actor=actor, message=message, emoji=emoji)
    except ApplicationError as exc:
        if thread is not None:
            return _thread_page(request, actor, message.channel_id, thread, error=exc)
        return _channel_page(request, actor, message.channel_id, error=exc)
    if thread is not None:
        url = reverse("chat_web:thread", args=[message.channel_id, thread])
    else:
        url = reverse("chat_web:channel", args=[message.channel_id])
    return HttpResponseRedirect(f"{url}#m-{message.pk}")


@require_POST
@member_page
def reaction_add(request: HttpRequest, message_id: Any, *, actor: Membership) -> HttpResponse:
    return _react(request, actor, message_id, add=True)


@require_POST
@member_page
def reaction_remove(request: HttpRequest, message_id: Any, *, actor: Membership) -> HttpResponse:
    return _react(request, actor, message_id, add=False)

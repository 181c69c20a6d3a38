"""Writes for chat: channels, members, messages, reactions, read markers.

- ``channels``: create, update, members, direct conversations; the checks
  every chat write shares;
- ``messages``: messages (threads, mentions), reactions, read markers;
- ``events``: event payloads and their audience. ``_``-prefixed names are
  private to this package.

Every function takes the acting ``Membership`` and re-checks what it may do,
so the rules hold for any caller (API, shell, tests): viewers read (and keep
read markers) but never write; private channels are managed by their members;
messages are edited by their author and deleted by their author or an admin.

Realtime events go through ``send_event_on_commit`` only, to the channel's
audience (``selectors.channel_audience``):

* ``chat.message`` created / updated / deleted (data: the message);
* ``chat.reaction`` added / removed (``{message, channel, user, emoji}``);
* ``chat.read`` updated (``{channel, message, last_read_at}``) to the reader's
  own sockets (their other devices clear the badge);
* ``chat.mention`` created to each newly mentioned user (not the author);
* ``chat.channel`` created / updated / member_added.
"""

"""Which provider (channel) a claimed message goes to.

The outbox row holds only the sender's text, so the router tells its kind the way the
routes file names them: the shared sender (``""``, the provider's default, or
``SENDERID_SHARED_SENDER``) is ``shared``; digits (with or without ``+``) are ``number``;
anything else is ``alpha`` (a business name). The first route that matches the message
(sender kind, recipient prefix, account) decides, and its providers carry it: all of them,
or with ``SENDERID_UNREGISTERED_ALPHA=refuse`` only those that authorised its business name
on ACMA's register (``Claimed.authorised_providers``: empty means all; see
:meth:`senderid.routing.Routes.authorised`; with ``warn``, ``message.sent`` says whether
the one used had). Then:

* ``failover``: the first of them whose breaker admits a message. One whose window is full
  is waited for (the message stays ready): only an open breaker moves messages on;
* ``round_robin``: the next of them in turn that admits a message and has room.

When none admits a message (every breaker open), :meth:`Router.choose` says so and the
worker puts the message back in the queue without using an attempt, due at
:meth:`Router.next_chance`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from senderid.delivery.channels import Channel
from senderid.domain.outbox import Claimed
from senderid.routing import ProviderSpec, Route, Routes
from senderid.settings import Settings

_NUMBER = re.compile(r"^\+?[0-9]+$")

MEMO_SIZE = 8192  # messages whose route is kept (a worker holds at most two windows per provider)
NOT_AUTHORISED = ("no provider of its route is authorised for its business name on ACMA's SMS "
                  "Sender ID Register")


def single_routes(name: str, settings: Settings) -> Routes:
    """One provider, ``name``, carrying everything (rate: SENDERID_PROVIDER_MAX_PER_SECOND):
    a worker given one provider rather than the deployment's routes."""
    spec = ProviderSpec(name, settings.sms_provider, {}, settings.provider_max_per_second)
    return Routes({name: spec}, (Route((name,)),))


class Router:
    """Chooses a channel per message; one per worker (the round-robin turns are its own)."""

    def __init__(self, routes: Routes, channels: Mapping[str, Channel], *, shared_sender: str,
                 refuse_unauthorised: bool) -> None:
        self.routes = routes
        self.channels = channels
        self.shared_sender = shared_sender
        self.refuse_unauthorised = refuse_unauthorised  # SENDERID_UNREGISTERED_ALPHA=refuse
        self._turn: dict[int, int] = {}  # round-robin routes: where the next turn starts
        self._memo: dict[str, tuple[Route, list[Channel], tuple[int, tuple[str, ...]]]] = {}

    def sender_kind(self, sender: str) -> str:
        """``shared``, ``number`` or ``alpha``, as the routes file names them."""
        if sender == "" or sender == self.shared_sender:
            return "shared"
        return "number" if _NUMBER.match(sender) else "alpha"

    def route(self, message: Claimed) -> Route:
        return self.routes.route_for(self.sender_kind(message.sender), message.to, message.account_id)

    def candidates(self, message: Claimed) -> tuple[Route, list[Channel]]:
        """Its route and the channels it may go through, in the route's order; none when its
        business name is authorised by none of them and such names are refused. Kept per
        message while the worker holds it (:meth:`forget` when claimed anew)."""
        found = self._memo.get(message.id)
        if found is None:
            route = self.route(message)
            names = route.providers  # allow / warn: by the route (warn: message.sent tells)
            if self.refuse_unauthorised:  # refuse: only those that authorised its name
                names = self.routes.authorised(route, message.authorised_providers)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            found = self._memo[message.id] = (route, [self.channels[name] for name in names], (id(route), names))
        return found[0], found[1]

    def key(self, message: Claimed) -> tuple[int, tuple[str, ...]]:
        """Messages of the same key get the same choice (its route and its channels)."""
        self.candidates(message)
        return self._memo[message.id][2]

    def forget(self, message_ids: list[str]) -> None:
        for message_id in message_ids:
            self._memo.pop(message_id, None)

    def choose(self, message: Claimed) -> Channel | None:
        """The channel for ``message`` now (it may be full: then the message waits for it),
        or None when no channel of its route admits a message. For a round-robin route, a
        channel with room is taken in turn, and the turn moves past it."""
        route, channels = self.candidates(message)
        open_ = [c for c in channels if c.admits()]
        if not open_:
            return None
        if route.mode != "round_robin":
            return open_[0]
        key = id(route)
        start = self._turn.get(key, 0) % len(channels)
        in_turn = channels[start:] + channels[:start]
        for channel in in_turn:
            if channel in open_ and channel.has_room():
                self._turn[key] = (channels.index(channel) + 1) % len(channels)
                return channel
        return next(c for c in in_turn if c in open_)

    def next_chance(self, message: Claimed, now: datetime) -> datetime:
        """When a channel of its route may admit it again: the earliest reopening."""
        _, channels = self.candidates(message)
        times = [now if c.admits() else c.breaker.reopens_at for c in channels]
        return min(times, default=now)

    def demand(self, messages: list[Claimed], parts: dict[str, int]) -> dict[Channel, float]:
        """The parts each capped channel would be asked for by ``messages`` now (round-robin
        routes share theirs); ``parts``: message id -> its parts."""
        wanted: dict[Channel, float] = {}
        for message in messages:
            route, channels = self.candidates(message)
            open_ = [c for c in channels if c.admits()]
            if not open_:
                continue
            share = open_ if route.mode == "round_robin" else open_[:1]
            for channel in share:
                if channel.bucket is not None:
                    wanted[channel] = wanted.get(channel, 0.0) + parts[message.id] / len(share)
        return wanted

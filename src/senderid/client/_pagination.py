"""Walking a list page by page (as openai-python's auto-pagination): each ``iter_...``
method of ``Client`` and ``AsyncClient`` (from :class:`Walkers` and :class:`AsyncWalkers`)
takes the list's filters and page size, and fetches the next page only when the caller
reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from ._gateway_models import InboundMessage, Message, OptOut
from ._models import BusinessNameRequest, CustomNumber, Page

T = TypeVar("T")
When = str | datetime | None  # an ISO-8601 string, or a datetime (naive: UTC)


def _walk(fetch: Callable[..., Page[T]]) -> Iterator[T]:
    """Every item of a list, page after page (``fetch(offset)`` reads one), until the last."""
    offset: int | None = 0
    while offset is not None:
        page = fetch(offset=offset)
        yield from page.items
        offset = page.next_offset


async def _awalk(fetch: Callable[..., Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """:func:`_walk` for ``async``."""
    offset: int | None = 0
    while offset is not None:
        page = await fetch(offset=offset)
        for item in page.items:
            yield item
        offset = page.next_offset


class Walkers:
    """``Client``'s walkers: an iterator over every item of each list."""

    list_messages: Callable[..., Any]
    list_optouts: Callable[..., Any]
    list_custom_numbers: Callable[..., Any]
    list_business_names: Callable[..., Any]
    list_inbound: Callable[..., Any]

    def iter_inbound(self, *, from_number: str | None = None, since: When = None,
                     limit: int = 50) -> Iterator[InboundMessage]:
        """Every reply :meth:`list_inbound` finds, fetching page after page as you go."""
        return _walk(partial(self.list_inbound, from_number=from_number, since=since, limit=limit))

    def iter_messages(self, *, status: str | None = None, to: str | None = None, custom_string: str | None = None,
                      since: When = None, until: When = None, limit: int = 50) -> Iterator[Message]:
        """Every message :meth:`list_messages` finds, fetching page after page as you go."""
        return _walk(partial(self.list_messages, status=status, to=to, custom_string=custom_string, since=since,
                             until=until, limit=limit))

    def iter_optouts(self, *, limit: int = 50) -> Iterator[OptOut]:
        """Every number of the opt-out list, page after page."""
        return _walk(partial(self.list_optouts, limit=limit))

    def iter_custom_numbers(self, *, status: str | None = None, limit: int = 50) -> Iterator[CustomNumber]:
        """Every registration :meth:`list_custom_numbers` finds, page after page."""
        return _walk(partial(self.list_custom_numbers, status=status, limit=limit))

    def iter_business_names(self, *, status: str | None = None, limit: int = 50) -> Iterator[BusinessNameRequest]:
        """Every business name :meth:`list_business_names` finds, page after page."""
        return _walk(partial(self.list_business_names, status=status, limit=limit))


class AsyncWalkers:
    """``AsyncClient``'s walkers: an async iterator (``async for``) over every item of each list."""

    list_messages: Callable[..., Any]
    list_optouts: Callable[..., Any]
    list_custom_numbers: Callable[..., Any]
    list_business_names: Callable[..., Any]
    list_inbound: Callable[..., Any]

    def iter_inbound(self, *, from_number: str | None = None, since: When = None,
                     limit: int = 50) -> AsyncIterator[InboundMessage]:
        """Every reply :meth:`list_inbound` finds (``async for``), page after page."""
        return _awalk(partial(self.list_inbound, from_number=from_number, since=since, limit=limit))

    def iter_messages(self, *, status: str | None = None, to: str | None = None, custom_string: str | None = None,
                      since: When = None, until: When = None, limit: int = 50) -> AsyncIterator[Message]:
        """Every message :meth:`list_messages` finds (``async for``), page after page."""
        return _awalk(partial(self.list_messages, status=status, to=to, custom_string=custom_string, since=since,
                             until=until, limit=limit))

    def iter_optouts(self, *, limit: int = 50) -> AsyncIterator[OptOut]:
        """Every number of the opt-out list (``async for``), page after page."""
        return _awalk(partial(self.list_optouts, limit=limit))

    def iter_custom_numbers(self, *, status: str | None = None, limit: int = 50) -> AsyncIterator[CustomNumber]:
        """Every registration :meth:`list_custom_numbers` finds (``async for``), page after page."""
        return _awalk(partial(self.list_custom_numbers, status=status, limit=limit))

    def iter_business_names(self, *, status: str | None = None, limit: int = 50
                            ) -> AsyncIterator[BusinessNameRequest]:
        """Every business name :meth:`list_business_names` finds (``async for``), page after page."""
        return _awalk(partial(self.list_business_names, status=status, limit=limit))

"""Answers from memory, before the framework: the per-message routes (``token/verify``,
``senderId/check``) when this process can answer from memory alone.

A gateway checks its key and its sender for every message, so the steady state of those
two routes is an answer this process already holds: the key in the key cache, the
(account, sender) answer in the sender cache (``domain/senders.py``, invalidated as
always). For those, FastAPI's routing, its request objects and its dependency solving
were most of the request's cost: more than the answer itself. So :class:`Edge` asks the
route's *memory answer* first. It is built by the route's own module from the same
functions as the route, and it either answers exactly what the route would (the same
status, body and headers: ``tests/api/test_from_memory.py`` compares them), or returns
None. On None, the request goes to the route as it always did. That happens for anything
memory cannot settle: no key in memory, a header or a sender the route refuses, a sender
not in memory.

A module registers a memory answer for one of its GET endpoints with :func:`answers`;
:func:`shortcuts` finds them among the app's routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from senderid.api.auth import AuthError, cached_caller
from senderid.domain.types import Caller
from senderid.edge import context

MemoryAnswer = Callable[[Request], "Response | None"]
Shortcuts = dict[str, tuple[RouteContext, MemoryAnswer]]

_ANSWERS: dict[Callable[..., Any], MemoryAnswer] = {}


def answers(endpoint: Callable[..., Any]) -> Callable[[MemoryAnswer], MemoryAnswer]:
    """Register the decorated function as ``endpoint``'s memory answer."""

    def register(answer: MemoryAnswer) -> MemoryAnswer:
        _ANSWERS[endpoint] = answer
        return answer

    return register


def caller(request: Request) -> Caller | None:
    """The caller when its key is in memory; None otherwise, a header the route refuses
    included (the route then answers, in its own words)."""
    try:
        return cached_caller(context(request), request)
    except AuthError:
        return None


def shortcuts(routes: Iterable[BaseRoute]) -> Shortcuts:
    """Path -> (route, memory answer) for each GET route that has one (the route as the app
    serves it: its path with its router's prefix)."""
    found: Shortcuts = {}
    for route in iter_route_contexts(list(routes)):
        if route.path is not None and route.methods == {"GET"} and route.endpoint in _ANSWERS:
            found[route.path] = (route, _ANSWERS[route.endpoint])
    return found

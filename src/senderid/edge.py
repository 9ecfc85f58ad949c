"""What both HTTP edges (the API's routes and the console's pages) take from a request:
the process's context and who acts, and the ``{name:objectid}`` path segment.

``{name:objectid}`` matches only 24-hex ids, so ``/customNumber/add`` is never taken
for an id (a GET on it stays a 405). Starlette compiles a route's path when the route
is declared, so the convertor must be known before any router is built: the
``senderid.api`` and ``senderid.console`` packages call :func:`register_convertors`
when they are first imported, before any of their modules runs (it is idempotent).
"""

from __future__ import annotations

from starlette.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor
from starlette.requests import Request

from senderid.domain.context import Context
from senderid.domain.types import Actor


def context(request: Request) -> Context:
    """The context of the app that serves ``request``."""
    ctx: Context = request.app.state.ctx
    return ctx


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def actor(request: Request, name: str) -> Actor:
    """``name`` (``key:<id>``, ``admin-api``, ``console``) acting from the request's address."""
    return Actor(name, client_ip(request))


class ObjectIdConvertor(Convertor[str]):
    regex = "[0-9a-f]{24}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def register_convertors() -> None:
    """Make ``{name:objectid}`` known to Starlette (once; later calls change nothing)."""
    if not isinstance(CONVERTOR_TYPES.get("objectid"), ObjectIdConvertor):
        register_url_convertor("objectid", ObjectIdConvertor())

"""``Client`` and ``AsyncClient``: the same API, blocking and ``async``.

Both inherit everything from :class:`._base.BaseClient` and differ only in how a
request is sent and how a retry waits; each public method is one line that hands an
:mod:`._endpoints` call to ``_request``. POST methods take ``idempotency_key``:
``True`` (default) sends a fresh uuid4 ``Idempotency-Key`` reused across that call's
retries, a string sends that key, ``False``/``None`` sends none, and then the POST is
never retried.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import TypeVar

import anyio
import httpx

from . import _endpoints as ep
from ._base import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, BaseClient
from ._endpoints import IdempotencyKey
from ._gateway_models import CancelledMessage, CreditUsage, InboundPage, Message, MessagePage, OptOut, OptOutPage
from ._models import (
    AddResult,
    BusinessNamePage,
    BusinessNameRequest,
    CustomNumber,
    CustomNumberPage,
    SenderCheck,
    SendResult,
    TokenInfo,
    VerifyResult,
)
from ._pagination import AsyncWalkers, Walkers, When
from ._retry import RetryPolicy

R = TypeVar("R")

class Client(Walkers, BaseClient):
    """Blocking client. Use as a context manager, or call :meth:`close`.

    Args:
        api_key: the API key; falls back to ``SENDERID_API_KEY``, then ``CELLCAST_API_KEY``.
        base_url: the server; falls back to ``SENDERID_BASE_URL``; neither: :class:`MissingBaseURLError`.
        timeout: seconds (or an :class:`httpx.Timeout`) per attempt; ``None`` waits forever.
        max_retries: retries after the first attempt; ``0`` sends each request once.
        http_client: an :class:`httpx.Client` to send through; the caller closes it.
    """

    _http: httpx.Client

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
        _retry_policy: RetryPolicy | None = None,
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.Client):
            raise TypeError(
                "http_client must be an httpx.Client (use AsyncClient for httpx.AsyncClient)"
            )
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=_retry_policy,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()

    def close(self) -> None:
        """Close the connection pool (not a caller-supplied ``http_client``)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _request(self, call: ep.Call[R]) -> R:
        request = self._build_request(call)
        retries_done = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.RequestError as exc:
                wait = self._wait_after_error(request, exc, retries_done)
            else:
                next_wait = self._wait_after_response(request, response, retries_done)
                if next_wait is None:
                    return self._process_response(call, response)
                wait = next_wait
            time.sleep(wait)
            retries_done += 1

    def verify_token(self) -> TokenInfo:
        """``GET /api/v1/user/token/verify``: check that the API key is accepted."""
        return self._request(ep.verify_token())

    def add_custom_number(
        self, *, name: str, number: str, idempotency_key: IdempotencyKey = True
    ) -> AddResult:
        """``POST /api/v1/customNumber/add``: register a number you own as a sender."""
        return self._request(
            ep.add_custom_number(name=name, number=number, idempotency_key=idempotency_key)
        )

    def verify_custom_number(
        self, *, name: str, number: str, otp: str, idempotency_key: IdempotencyKey = True
    ) -> VerifyResult:
        """``POST /api/v1/customNumber/verifyCustomNumber``: confirm the code sent to the number."""
        return self._request(
            ep.verify_custom_number(
                name=name, number=number, otp=otp, idempotency_key=idempotency_key
            )
        )

    def add_business_name(
        self, *, name: str, contact: str | None = None, idempotency_key: IdempotencyKey = True
    ) -> BusinessNameRequest:
        """``POST /api/v1/business/add``: request a business name (alpha ID) as a sender."""
        return self._request(
            ep.add_business_name(name=name, contact=contact, idempotency_key=idempotency_key)
        )

    def send_sms(
        self,
        *,
        message: str,
        contacts: Sequence[str] | str,
        sender: str | None = None,
        idempotency_key: IdempotencyKey = True,
        schedule_at: str | datetime | None = None,
        delay: int | None = None,
        custom_string: str | None = None,
        reply_stop_to_opt_out: bool | None = None,
        optout: bool | None = None,
        optout_id: str | None = None,
        long_url: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    ) -> SendResult:
        """``POST /api/v1/gateway``: queue ``message`` to ``contacts`` from ``sender``.

        ``schedule_at`` (a datetime, or the wire's text) or ``delay`` (ms) hold it back;
        ``long_url`` maps each ``gosite.au/<short>`` of the text to its long URL."""
        return self._request(ep.send_sms(
            message=message, contacts=contacts, sender=sender, idempotency_key=idempotency_key,
            schedule_at=schedule_at, delay=delay, custom_string=custom_string,
            reply_stop_to_opt_out=reply_stop_to_opt_out, optout=optout, optout_id=optout_id, long_url=long_url,
        ))

    def check_sender(self, *, sender: str) -> SenderCheck:
        """``GET /api/v1/senderId/check``: may this account send as ``sender``?"""
        return self._request(ep.check_sender(sender=sender))

    def cancel_message(self, *, id: str) -> CancelledMessage:
        """``DELETE /api/v1/gateway/messages/{id}``: stop a message not handed over yet."""
        return self._request(ep.cancel_message(id=id))

    def get_message(self, *, id: str) -> Message:
        """``GET /api/v1/gateway/messages/{id}``: one message, its status and history."""
        return self._request(ep.get_message(id=id))

    def list_messages(self, *, status: str | None = None, to: str | None = None, custom_string: str | None = None,
                      since: When = None, until: When = None, limit: int = 50, offset: int = 0) -> MessagePage:
        """``GET /api/v1/gateway/messages``: one page of the account's messages, newest first."""
        return self._request(ep.list_messages(status=status, to=to, custom_string=custom_string, since=since,
                                              until=until, limit=limit, offset=offset))

    def list_optouts(self, *, limit: int = 50, offset: int = 0) -> OptOutPage:
        """``GET /api/v1/optouts``: the account's opt-out list, newest first."""
        return self._request(ep.list_optouts(limit=limit, offset=offset))

    def add_optout(self, *, number: str, idempotency_key: IdempotencyKey = True) -> OptOut:
        """``POST /api/v1/optouts``: never send to ``number`` again."""
        return self._request(ep.add_optout(number=number, idempotency_key=idempotency_key))

    def remove_optout(self, *, number: str) -> OptOut:
        """``DELETE /api/v1/optouts/{number}``: take ``number`` off the list."""
        return self._request(ep.remove_optout(number=number))

    def list_inbound(
        self, *, from_number: str | None = None, since: datetime | str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> InboundPage:
        """``GET /api/v1/inbound``: replies from phones to the account's SMS, newest first;
        ``from_number`` (any accepted form) and ``since`` (a datetime or ISO-8601) filter."""
        return self._request(ep.list_inbound(from_number=from_number, since=since, limit=limit, offset=offset))

    def credit_usage(self, *, page: int = 1, limit: int = 10) -> CreditUsage:
        """``GET /api/v2/report/message/quick-api-credit-usage``: parts and credits per customString."""
        return self._request(ep.credit_usage(page=page, limit=limit))

    # -- management (senderid extras; Cellcast v1 documents no such routes) ---------------

    def list_custom_numbers(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> CustomNumberPage:
        """``GET /api/v1/customNumber/list``: the account's registrations, newest first."""
        return self._request(ep.list_custom_numbers(status=status, limit=limit, offset=offset))

    def get_custom_number(self, *, id: str) -> CustomNumber:
        """``GET /api/v1/customNumber/{id}``: one registration of the account."""
        return self._request(ep.get_custom_number(id=id))

    def delete_custom_number(self, *, id: str) -> CustomNumber:
        """``DELETE /api/v1/customNumber/{id}``: end a registration (it stays readable)."""
        return self._request(ep.delete_custom_number(id=id))

    def resend_otp(self, *, id: str, idempotency_key: IdempotencyKey = True) -> CustomNumber:
        """``POST /api/v1/customNumber/{id}/resend``: a fresh code for a pending registration."""
        return self._request(ep.resend_otp(id=id, idempotency_key=idempotency_key))

    def list_business_names(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> BusinessNamePage:
        """``GET /api/v1/business/list``: the account's business names, oldest first."""
        return self._request(ep.list_business_names(status=status, limit=limit, offset=offset))

    def get_business_name(self, *, id: str) -> BusinessNameRequest:
        """``GET /api/v1/business/{id}``: one business name request of the account."""
        return self._request(ep.get_business_name(id=id))

    def withdraw_business_name(self, *, id: str) -> BusinessNameRequest:
        """``DELETE /api/v1/business/{id}``: withdraw a request still ``REQUESTED``."""
        return self._request(ep.withdraw_business_name(id=id))


class AsyncClient(AsyncWalkers, BaseClient):
    """``async`` twin of :class:`Client`: same arguments, methods and errors.

    Use ``async with AsyncClient() as client``, or ``await client.aclose()``.
    ``http_client`` must be an :class:`httpx.AsyncClient`.
    """

    _http: httpx.AsyncClient

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
        _retry_policy: RetryPolicy | None = None,
    ) -> None:
        if http_client is not None and not isinstance(http_client, httpx.AsyncClient):
            raise TypeError(
                "http_client must be an httpx.AsyncClient (use Client for httpx.Client)"
            )
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=_retry_policy,
        )
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()

    async def aclose(self) -> None:
        """Close the connection pool (not a caller-supplied ``http_client``)."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _request(self, call: ep.Call[R]) -> R:
        request = self._build_request(call)
        retries_done = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.RequestError as exc:
                wait = self._wait_after_error(request, exc, retries_done)
            else:
                next_wait = self._wait_after_response(request, response, retries_done)
                if next_wait is None:
                    return self._process_response(call, response)
                wait = next_wait
            await anyio.sleep(wait)
            retries_done += 1

    async def verify_token(self) -> TokenInfo:
        """``GET /api/v1/user/token/verify``: check that the API key is accepted."""
        return await self._request(ep.verify_token())

    async def add_custom_number(
        self, *, name: str, number: str, idempotency_key: IdempotencyKey = True
    ) -> AddResult:
        """``POST /api/v1/customNumber/add``: register a number you own as a sender."""
        return await self._request(
            ep.add_custom_number(name=name, number=number, idempotency_key=idempotency_key)
        )

    async def verify_custom_number(
        self, *, name: str, number: str, otp: str, idempotency_key: IdempotencyKey = True
    ) -> VerifyResult:
        """``POST /api/v1/customNumber/verifyCustomNumber``: confirm the code sent to the number."""
        return await self._request(
            ep.verify_custom_number(
                name=name, number=number, otp=otp, idempotency_key=idempotency_key
            )
        )

    async def add_business_name(
        self, *, name: str, contact: str | None = None, idempotency_key: IdempotencyKey = True
    ) -> BusinessNameRequest:
        """``POST /api/v1/business/add``: request a business name (alpha ID) as a sender."""
        return await self._request(
            ep.add_business_name(name=name, contact=contact, idempotency_key=idempotency_key)
        )

    async def send_sms(
        self,
        *,
        message: str,
        contacts: Sequence[str] | str,
        sender: str | None = None,
        idempotency_key: IdempotencyKey = True,
        schedule_at: str | datetime | None = None,
        delay: int | None = None,
        custom_string: str | None = None,
        reply_stop_to_opt_out: bool | None = None,
        optout: bool | None = None,
        optout_id: str | None = None,
        long_url: Mapping[str, str] | Sequence[Mapping[str, str]] | None = None,
    ) -> SendResult:
        """``POST /api/v1/gateway``: queue ``message`` to ``contacts`` from ``sender``.

        ``schedule_at`` (a datetime, or the wire's text) or ``delay`` (ms) hold it back;
        ``long_url`` maps each ``gosite.au/<short>`` of the text to its long URL."""
        return await self._request(ep.send_sms(
            message=message, contacts=contacts, sender=sender, idempotency_key=idempotency_key,
            schedule_at=schedule_at, delay=delay, custom_string=custom_string,
            reply_stop_to_opt_out=reply_stop_to_opt_out, optout=optout, optout_id=optout_id, long_url=long_url,
        ))

    async def check_sender(self, *, sender: str) -> SenderCheck:
        """``GET /api/v1/senderId/check``: may this account send as ``sender``?"""
        return await self._request(ep.check_sender(sender=sender))

    async def cancel_message(self, *, id: str) -> CancelledMessage:
        """``DELETE /api/v1/gateway/messages/{id}``: stop a message not handed over yet."""
        return await self._request(ep.cancel_message(id=id))

    async def get_message(self, *, id: str) -> Message:
        """``GET /api/v1/gateway/messages/{id}``: one message, its status and history."""
        return await self._request(ep.get_message(id=id))

    async def list_messages(self, *, status: str | None = None, to: str | None = None, custom_string: str | None = None,
                            since: When = None, until: When = None, limit: int = 50, offset: int = 0) -> MessagePage:
        """``GET /api/v1/gateway/messages``: one page of the account's messages, newest first."""
        return await self._request(ep.list_messages(status=status, to=to, custom_string=custom_string, since=since,
                                                    until=until, limit=limit, offset=offset))

    async def list_optouts(self, *, limit: int = 50, offset: int = 0) -> OptOutPage:
        """``GET /api/v1/optouts``: the account's opt-out list, newest first."""
        return await self._request(ep.list_optouts(limit=limit, offset=offset))

    async def add_optout(self, *, number: str, idempotency_key: IdempotencyKey = True) -> OptOut:
        """``POST /api/v1/optouts``: never send to ``number`` again."""
        return await self._request(ep.add_optout(number=number, idempotency_key=idempotency_key))

    async def remove_optout(self, *, number: str) -> OptOut:
        """``DELETE /api/v1/optouts/{number}``: take ``number`` off the list."""
        return await self._request(ep.remove_optout(number=number))

    async def list_inbound(
        self, *, from_number: str | None = None, since: datetime | str | None = None, limit: int = 50,
        offset: int = 0,
    ) -> InboundPage:
        """``GET /api/v1/inbound``: replies from phones to the account's SMS, newest first;
        ``from_number`` (any accepted form) and ``since`` (a datetime or ISO-8601) filter."""
        return await self._request(ep.list_inbound(from_number=from_number, since=since, limit=limit, offset=offset))

    async def credit_usage(self, *, page: int = 1, limit: int = 10) -> CreditUsage:
        """``GET /api/v2/report/message/quick-api-credit-usage``: parts and credits per customString."""
        return await self._request(ep.credit_usage(page=page, limit=limit))

    # -- management (senderid extras; Cellcast v1 documents no such routes) ---------------

    async def list_custom_numbers(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> CustomNumberPage:
        """``GET /api/v1/customNumber/list``: the account's registrations, newest first."""
        return await self._request(
            ep.list_custom_numbers(status=status, limit=limit, offset=offset)
        )

    async def get_custom_number(self, *, id: str) -> CustomNumber:
        """``GET /api/v1/customNumber/{id}``: one registration of the account."""
        return await self._request(ep.get_custom_number(id=id))

    async def delete_custom_number(self, *, id: str) -> CustomNumber:
        """``DELETE /api/v1/customNumber/{id}``: end a registration (it stays readable)."""
        return await self._request(ep.delete_custom_number(id=id))

    async def resend_otp(self, *, id: str, idempotency_key: IdempotencyKey = True) -> CustomNumber:
        """``POST /api/v1/customNumber/{id}/resend``: a fresh code for a pending registration."""
        return await self._request(ep.resend_otp(id=id, idempotency_key=idempotency_key))

    async def list_business_names(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> BusinessNamePage:
        """``GET /api/v1/business/list``: the account's business names, oldest first."""
        return await self._request(
            ep.list_business_names(status=status, limit=limit, offset=offset)
        )

    async def get_business_name(self, *, id: str) -> BusinessNameRequest:
        """``GET /api/v1/business/{id}``: one business name request of the account."""
        return await self._request(ep.get_business_name(id=id))

    async def withdraw_business_name(self, *, id: str) -> BusinessNameRequest:
        """``DELETE /api/v1/business/{id}``: withdraw a request still ``REQUESTED``."""
        return await self._request(ep.withdraw_business_name(id=id))

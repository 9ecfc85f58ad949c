"""senderid.client: a typed Python client for the senderid / Cellcast v1 Sender ID API.

    from senderid.client import Client

    with Client() as client:  # server from SENDERID_BASE_URL, key from SENDERID_API_KEY (or CELLCAST_API_KEY)
        result = client.add_custom_number(name="Support line", number="+61491570156")

Every list has an ``iter_...`` twin that walks its pages (``for m in client.iter_messages():``;
``async for`` on ``AsyncClient``). ``senderid.client.webhooks.verify(...)`` checks a webhook's
signature. ``AsyncClient`` is the ``async`` twin. Every error is a :class:`SenderIdError`; the
hierarchy is documented in ``senderid.client._exceptions`` and ``docs/client.md``.
"""

from ._base import CELLCAST_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT
from ._client import AsyncClient, Client
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    MissingAPIKeyError,
    MissingBaseURLError,
    NotFoundError,
    NumberAlreadyExistsError,
    OTPVerificationError,
    PermissionDeniedError,
    RateLimitError,
    SenderIdError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)
from ._gateway_models import (
    CancelledMessage,
    CreditUsage,
    CreditUsageLine,
    InboundMessage,
    InboundPage,
    Message,
    MessageEvent,
    MessagePage,
    OptOut,
    OptOutPage,
)
from ._models import (
    AddResult,
    BusinessNamePage,
    BusinessNameRequest,
    CustomNumber,
    CustomNumberPage,
    Page,
    QueuedMessage,
    SenderCheck,
    SendResult,
    TokenInfo,
    VerifyResult,
)

__all__ = [
    "CELLCAST_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AddResult",
    "AsyncClient",
    "AuthenticationError",
    "BusinessNamePage",
    "BusinessNameRequest",
    "CancelledMessage",
    "Client",
    "ConflictError",
    "CreditUsage",
    "CreditUsageLine",
    "CustomNumber",
    "CustomNumberPage",
    "InboundMessage",
    "InboundPage",
    "Message",
    "MessageEvent",
    "MessagePage",
    "MissingAPIKeyError",
    "MissingBaseURLError",
    "NotFoundError",
    "NumberAlreadyExistsError",
    "OTPVerificationError",
    "OptOut",
    "OptOutPage",
    "Page",
    "PermissionDeniedError",
    "QueuedMessage",
    "RateLimitError",
    "SendResult",
    "SenderCheck",
    "SenderIdError",
    "ServerError",
    "TokenInfo",
    "UnexpectedResponseError",
    "ValidationError",
    "VerifyResult",
]

"""The public surface: ``__all__`` pinned, the exception tree, twins kept in step,
frozen results."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import senderid.client as client_module
from senderid.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    MissingAPIKeyError,
    MissingBaseURLError,
    NotFoundError,
    NumberAlreadyExistsError,
    OTPVerificationError,
    PermissionDeniedError,
    RateLimitError,
    SenderIdError,
    SendResult,
    ServerError,
    TokenInfo,
    UnexpectedResponseError,
    ValidationError,
)

EXPECTED_ALL = [
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


@pytest.mark.unit
def test_all_is_pinned() -> None:
    assert client_module.__all__ == EXPECTED_ALL
    for name in EXPECTED_ALL:
        assert hasattr(client_module, name), name


@pytest.mark.unit
def test_no_other_public_names() -> None:
    public = {
        name
        for name, value in vars(client_module).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(EXPECTED_ALL)


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (MissingAPIKeyError, SenderIdError),
        (MissingBaseURLError, SenderIdError),
        (APIConnectionError, SenderIdError),
        (APITimeoutError, APIConnectionError),
        (APIStatusError, SenderIdError),
        (AuthenticationError, APIStatusError),
        (PermissionDeniedError, APIStatusError),
        (ValidationError, APIStatusError),
        (NumberAlreadyExistsError, ValidationError),
        (OTPVerificationError, ValidationError),
        (RateLimitError, APIStatusError),
        (NotFoundError, APIStatusError),
        (ConflictError, APIStatusError),
        (ServerError, APIStatusError),
        (UnexpectedResponseError, APIStatusError),
    ],
)
@pytest.mark.unit
def test_exception_tree(cls: type, parent: type) -> None:
    assert cls.__bases__ == (parent,)


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    own = {name: member for klass in reversed(cls.__mro__) if klass.__module__.startswith("senderid.client")
           and not klass.__name__.endswith("BaseClient") for name, member in vars(klass).items()}
    return {name: inspect.signature(member) for name, member in own.items()
            if inspect.isfunction(member) and not name.startswith("_")}


@pytest.mark.unit
def test_async_twin_has_the_same_methods_and_signatures() -> None:
    sync, async_ = _public_methods(Client), _public_methods(AsyncClient)
    assert set(async_) == set(sync) - {"close"} | {"aclose"}
    for name, signature in sync.items():
        if name == "close":
            continue
        if name.startswith("iter_"):  # the pages' walkers: an iterator, and an async iterator
            assert async_[name].parameters == signature.parameters, name
            assert (async_[name].return_annotation == "Async" + signature.return_annotation), name
            assert not inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
            continue
        assert async_[name] == signature, name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name


@pytest.mark.unit
def test_constructors_take_the_same_arguments() -> None:
    sync = inspect.signature(Client.__init__).parameters
    async_ = inspect.signature(AsyncClient.__init__).parameters
    assert list(sync) == list(async_)
    for name in sync:
        assert (sync[name].kind, sync[name].default) == (async_[name].kind, async_[name].default)
        assert name == "self" or sync[name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.unit
def test_endpoint_arguments_are_keyword_only() -> None:
    for name, signature in _public_methods(Client).items():
        for parameter in list(signature.parameters.values())[1:]:
            assert parameter.kind is inspect.Parameter.KEYWORD_ONLY, (name, parameter.name)


@pytest.mark.unit
def test_results_are_frozen_and_keep_the_envelope_aside() -> None:
    result = TokenInfo(token="t", envelope={"status": True})
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.token = "other"
    assert result == TokenInfo(token="t", envelope={"different": 1})
    assert hash(result) == hash(TokenInfo(token="t", envelope={}))
    assert "envelope" not in repr(result)
    empty = SendResult.from_envelope({})
    assert (empty.queued, empty.total_valid, empty.message) == ((), 0, "")
    assert (empty.encoding, empty.message_parts) == (None, None)  # a server without extras
    hash(empty)


@pytest.mark.unit
def test_every_list_has_a_walker() -> None:
    """Each ``list_x`` page has an ``iter_x`` that walks every page (sync and async)."""
    for cls in (Client, AsyncClient):
        methods = _public_methods(cls)
        lists = {name.removeprefix("list_") for name in methods if name.startswith("list_")}
        assert lists and {name.removeprefix("iter_") for name in methods if name.startswith("iter_")} == lists, cls

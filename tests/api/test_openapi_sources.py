"""The API reference is generated from what it describes, so the two cannot drift apart:
the documented error answers are the error classes as the server renders them, and each
request schema lists exactly the fields its route reads."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from senderid import errors, ids
from senderid.api import body as body_module
from senderid.api import envelope
from senderid.api.app import create_app
from senderid.api.body import RequestBody
from senderid.domain import gateway_fields
from senderid.settings import Settings

ADMIN_TOKEN = "admin-" + "r" * 40
LOOPBACK = ("127.0.0.1", 50000)  # the developer inbox answers only loopback clients

# The documented answers of SPEC §1.3 that the reference must show.
CONTRACT_ANSWERS = {
    "NameRequired", "MobileNumberRequired", "MobileNumberInvalid", "NumberAlreadyExists",
    "VerifyNameRequired", "VerifyNumberRequired", "OtpVerificationFailed", "BusinessNameRequired",
    "ContactsRequired", "BalanceTooLow",
}


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"admin_token": ADMIN_TOKEN}  # so that the admin API's bodies are checked too


def _document(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", secret_key="s" * 40,
                        admin_token=ADMIN_TOKEN, sms_provider="devinbox")
    return create_app(settings, run_worker=False).openapi()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def _error_class(name: str) -> type[errors.SenderIdError] | None:
    found = getattr(errors, name, None)
    return found if isinstance(found, type) and issubclass(found, errors.SenderIdError) else None


def test_documented_errors_are_the_error_classes_as_answered(tmp_path: Path) -> None:
    """Every error example is named by its class in errors.py, sits under the class's HTTP
    status, and is byte for byte the body the server answers with (its message included)."""
    shown: set[str] = set()
    for method, path, operation in _operations(_document(tmp_path)):
        for status, response in operation.get("responses", {}).items():
            examples = response.get("content", {}).get("application/json", {}).get("examples", {})
            for name, example in examples.items():
                value = example["value"]
                cls = _error_class(name)
                if cls is None:  # a success: no error may hide under another name
                    assert value.get("status") is True and "stack" not in value, (method, path, name)
                    continue
                shown.add(name)
                where = (method, path, status, name)
                assert status == str(cls.http_status), where
                assert value["message"] == example["summary"] == cls.message, where
                assert value == orjson.loads(envelope.from_error(cls()).body), where
    assert shown >= CONTRACT_ANSWERS, CONTRACT_ANSWERS - shown


def _models() -> dict[str, type[RequestBody]]:
    found: dict[str, type[RequestBody]] = {}
    pending = list(RequestBody.__subclasses__())
    while pending:
        model = pending.pop()
        found[model.__name__] = model
        pending.extend(model.__subclasses__())
    return found


class _Recorded(dict[str, Any]):
    """A request's JSON object that notes every key the code looks up in it."""

    def __init__(self, value: dict[str, Any], reads: set[str]) -> None:
        super().__init__(value)
        self.reads = reads

    def get(self, key: str, default: Any = None) -> Any:
        self.reads.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.reads.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.reads.add(str(key))
        return super().__contains__(key)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The keys read from request bodies: every module's ``parse_object`` hands the route a
    recording object (the real parse runs first), and so does the gateway's parse of its
    optional fields, which the route passes on as a new mapping."""
    seen: set[str] = set()
    parse_object, parse_fields = body_module.parse_object, gateway_fields.parse

    def recording_parse_object(content_type: str | None, raw: bytes) -> dict[str, Any]:
        return _Recorded(parse_object(content_type, raw), seen)

    def recording_parse_fields(body: Any, **kwargs: Any) -> gateway_fields.SendOptions:
        return parse_fields(_Recorded(dict(body), seen), **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "parse_object", None) is parse_object:
            monkeypatch.setattr(module, "parse_object", recording_parse_object)
    monkeypatch.setattr(gateway_fields, "parse", recording_parse_fields)
    return seen


def test_request_schemas_list_exactly_the_fields_the_routes_read(
    app_client: TestClient, customer, reads: set[str]
) -> None:
    """Each POST, PUT and PATCH gets its declared example (or ``{}`` when it declares no body)
    and must read exactly the fields its schema lists: a field read but undeclared, or declared
    but never read, fails."""
    document = app_client.app.openapi()
    models = _models()
    client = TestClient(app_client.app, client=LOOPBACK, raise_server_exceptions=False)
    used: set[str] = set()
    for method, path, operation in _operations(document):
        if method not in ("post", "put", "patch"):
            continue
        declared: frozenset[str] = frozenset()
        sent: dict[str, Any] = {}
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]["application/json"]
            model = models[content["schema"]["title"]]
            used.add(model.__name__)
            declared = model.wire_fields()
            assert set(content["schema"]["properties"]) == declared, (method, path)
            assert content["example"] == model.example, (method, path)
            model.model_validate(model.example)  # the example is a body the schema allows
            sent = model.example
        token = ADMIN_TOKEN if path.startswith("/admin/") else customer.key
        url = re.sub(r"\{[^}]+\}", lambda _m: ids.new_id(), path)
        reads.clear()
        answer = client.request(method, url, json=sent, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code < 500, (method, path, answer.text)
        assert reads == declared, (method, path, answer.status_code, answer.text[:200])
    assert used == set(models)  # every declared body documents a route

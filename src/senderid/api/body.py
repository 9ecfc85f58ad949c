"""Request bodies: reading the JSON object, with answers a person can act on, and
declaring each body once (:class:`RequestBody`) for the API reference."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema
from starlette.requests import Request

from senderid.errors import SenderIdError


class UnsupportedMediaType(SenderIdError):
    http_status = 415
    message = "Send the body as JSON with the header Content-Type: application/json"


class MalformedBody(SenderIdError):
    pass


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def json_object(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaType()
    return parse_object(content_type, await request.body())


def parse_object(content_type: str | None, raw: bytes) -> dict[str, Any]:
    """The JSON object in a body already read (415 / 400 as :func:`json_object`)."""
    if content_type is not None and not _is_json(content_type):
        raise UnsupportedMediaType()
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedBody("The body is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedBody("The body must be a JSON object")
    return value


class _Schema(GenerateJsonSchema):
    """JSON Schema for the API reference: no generated field titles, and no ``default: null``
    (a field that may be left out is simply not ``required``)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", ...) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by X (an OpenAPI body is self-contained)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline(value, definitions) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline(value, definitions) for value in node]
    return node


class _Nullable:
    def __repr__(self) -> str:
        return "NULLABLE"


NULLABLE = _Nullable()  # Annotated[X | None, NULLABLE]: null is a value of its own (e.g. it clears)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if len(branches) != 1:
        return schema
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    return {**branches[0], **rest}


class RequestBody(BaseModel):
    """A JSON request body, declared once: its fields, their types and what they mean.

    Routes read the raw object themselves (:func:`json_object`), leniently and in the
    contract's order, so that every answer stays the documented one; the model does not
    parse. It is what the API reference shows: :meth:`openapi`, given to the route as
    ``openapi_extra``, is the operation's ``requestBody`` generated from the fields
    (:mod:`senderid.api.openapi` puts it in the document as declared), and a test sends
    :attr:`example` through each route to check that the route reads exactly
    :meth:`wire_fields`.
    """

    model_config = ConfigDict(populate_by_name=True)

    example: ClassVar[dict[str, Any]]

    @classmethod
    def wire_fields(cls) -> frozenset[str]:
        """The field names as sent on the wire (an alias where the name is not Python)."""
        return frozenset(info.alias or name for name, info in cls.model_fields.items())

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The body's JSON Schema. A field that may be left out (default ``None``) is typed
        ``X | None`` because a ``null`` reads as left out; it is documented as ``X`` unless it
        is marked :data:`NULLABLE` (``null`` is a value of its own there)."""
        schema = cls.model_json_schema(by_alias=True, schema_generator=_Schema)
        properties = schema.get("properties", {})
        for name, info in cls.model_fields.items():
            if info.default is None and NULLABLE not in info.metadata:
                properties[info.alias or name] = _without_null(properties[info.alias or name])
        inlined: dict[str, Any] = _inline(schema, schema.get("$defs", {}))
        return inlined

    @classmethod
    def openapi(cls) -> dict[str, Any]:
        """``openapi_extra`` for the route: its request body, schema and example."""
        return {"requestBody": {"required": True, "content": {
            "application/json": {"schema": cls.json_schema(), "example": cls.example}}}}


NUMBER_HELP = ("+61400000000, 61400000000, 0400000000 or 400000000, with spaces, dashes, dots or "
               "parentheses between digits")

# A mobile number in any form the API accepts (a string; an integer is accepted).
NumberInput = Annotated[
    Annotated[str, Field(max_length=32)] | int,
    Field(description=NUMBER_HELP, examples=["+61491570156"]),
]

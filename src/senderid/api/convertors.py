"""Path convertors: ``{id:objectid}`` matches only 24-hex ids, so `/customNumber/add`
is never mistaken for an id (a GET on it stays a 405)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class ObjectIdConvertor(Convertor[str]):
    regex = "[0-9a-f]{24}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("objectid", ObjectIdConvertor())

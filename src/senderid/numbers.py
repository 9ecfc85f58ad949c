"""Parse, normalise and validate phone numbers (pure functions over phonenumbers).

Accepted input for an Australian mobile: ``+61400000000``, ``61400000000``,
``0400000000``, ``400000000``, with spaces, dashes, dots or parentheses
between digits (``0400 000 000``, ``+61 (0)400-000-000``). JSON integers
are accepted as their digits. Everything is stored and shown in E.164.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberType
from phonenumbers.phonenumberutil import _number_type_helper  # the type check alone, without the parse

MAX_INPUT_LENGTH = 32
# Digits, an optional leading "+", and the separators people type between digits.
_SHAPE = re.compile(r"^\+?[0-9(][0-9 \-.()]*[0-9]$|^\+?[0-9]$")
_SEPARATORS = re.compile(r"[ \-.()]")
_TRUNK_IN_PARENS = re.compile(r"\(0\)")
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_VOICE_TYPES = _MOBILE_TYPES | {PhoneNumberType.FIXED_LINE, PhoneNumberType.VOIP}


class InvalidNumber(ValueError):
    """The input is not an acceptable number; the text says why (for people, not callers)."""


def _as_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidNumber("a number must be a string of digits")
    text = str(value)
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidNumber(f"a number has at most {MAX_INPUT_LENGTH} characters")
    if not text.isprintable():
        raise InvalidNumber("a number must not contain control characters")
    text = text.strip(" ")
    if not _SHAPE.fullmatch(text) or "()" in re.sub(r"[ .\-]", "", text):
        raise InvalidNumber("a number holds only digits, a leading +, spaces, dashes, dots or parentheses")
    return text


def _digits(value: object) -> str:
    """The input without separators (and a trunk ``(0)``), refused as :func:`_as_text` says."""
    return _SEPARATORS.sub("", _TRUNK_IN_PARENS.sub("", _as_text(value), count=1))


def _parse(value: object, regions: tuple[str, ...]) -> phonenumbers.PhoneNumber:
    return _parse_digits(_digits(value), regions)


def _parse_digits(digits: str, regions: tuple[str, ...]) -> phonenumbers.PhoneNumber:
    try:
        if digits.startswith("+"):
            parsed = phonenumbers.parse(digits, None)
        else:
            parsed = _parse_national(digits, regions)
    except NumberParseException as exc:
        raise InvalidNumber("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber("not a valid phone number")
    if phonenumbers.region_code_for_number(parsed) not in regions:
        raise InvalidNumber("numbers from that country are not accepted")
    return parsed


def _parse_national(digits: str, regions: tuple[str, ...]) -> phonenumbers.PhoneNumber:
    """Digits without "+": national with or without the trunk 0, or international without "+"."""
    candidates: list[phonenumbers.PhoneNumber] = []
    for region in regions:
        code = str(phonenumbers.country_code_for_region(region))
        forms = [digits]
        if digits.startswith(code):
            forms.append("+" + digits)
        for form in forms:
            try:
                number = phonenumbers.parse(form, region)
            except NumberParseException:
                continue
            if phonenumbers.is_valid_number(number):
                return number
            candidates.append(number)
    if candidates:
        return candidates[0]
    raise NumberParseException(NumberParseException.NOT_A_NUMBER, "unparseable")


def parse_mobile(value: object, regions: Iterable[str] = ("AU",)) -> str:
    """The E.164 form of a valid, SMS-capable mobile number in one of ``regions``."""
    if (type(value) is str and len(value) <= MAX_INPUT_LENGTH) or type(value) is int:
        # the common inputs, short and hashable: remembered
        result = _parse_mobile_remembered(value, tuple(regions))
        if isinstance(result, InvalidNumber):
            raise InvalidNumber(str(result))
        return result
    return _parse_mobile(value, tuple(regions))


def _parse_mobile(value: object, regions: tuple[str, ...]) -> str:
    digits = _digits(value)
    quick = _common_mobile(digits, regions)
    if quick is not None:
        return quick
    parsed = _parse_digits(digits, regions)
    if phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        raise InvalidNumber("not a mobile number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=8192)
def _parse_mobile_remembered(value: str | int, regions: tuple[str, ...]) -> str | InvalidNumber:
    """:func:`_parse_mobile`, remembered (a pure function; senders and contacts repeat),
    with the refusal as a value so that it is remembered too."""
    try:
        return _parse_mobile(value, regions)
    except InvalidNumber as exc:
        return exc


def _common_mobile(digits: str, regions: tuple[str, ...]) -> str | None:
    """The E.164 form of a mobile number typed the two most common ways, ``+<code><number>``
    and ``0<number>`` in the first accepted region (``digits``: the input as :func:`_digits`
    leaves it), decided by one type check against that region's metadata; None for
    anything else, which the full parse decides.

    A number that is new to this process pays for phonenumbers' whole parse otherwise
    (its type is worked out about six times over: validity, the region, the type), which
    was most of the CPU of an add. It gives the same answer as the full parse: the region
    is the main one of its country code (so ``+61 4...`` is Australia's before Cocos' or
    Christmas Island's), and only a number whose type is mobile is answered here
    (tests/domain/test_numbers.py compares the two over every kind of input)."""
    known = _REGION.get(regions[0]) if regions else None
    if known is None:
        return None
    code, trunk, metadata = known
    if digits.startswith("+" + code):
        national = digits[1 + len(code):]
    elif trunk and digits.startswith(trunk):
        national = digits[len(trunk):]
    else:
        return None
    if not (national.isascii() and national.isdigit()) or national.startswith("0"):
        return None
    if _number_type_helper(national, metadata) not in _MOBILE_TYPES:
        return None
    return f"+{code}{national}"


def _region_facts(region: str) -> tuple[str, str, PhoneMetadata] | None:
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code is None:
        return None
    if phonenumbers.region_code_for_country_code(metadata.country_code) != region:
        return None
    return str(metadata.country_code), metadata.national_prefix or "", metadata


# The regions the quick path knows: each main region of its country code, its code, trunk
# prefix and metadata (filled once, for every region phonenumbers knows).
_REGION: dict[str, tuple[str, str, PhoneMetadata]] = {
    region: facts for region in phonenumbers.SUPPORTED_REGIONS if (facts := _region_facts(region)) is not None
}


def parse_contact(value: object, regions: Iterable[str] = ("AU",)) -> str:
    """The E.164 form of a number a person can answer (mobile, landline or VoIP)."""
    parsed = _parse(value, tuple(regions))
    if phonenumbers.number_type(parsed) not in _VOICE_TYPES:
        raise InvalidNumber("not a number a person can answer (mobile or landline)")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national_significant(e164: str) -> str:
    """``+61400000000`` -> ``400000000`` (the form the gateway answers with)."""
    return str(phonenumbers.parse(e164, None).national_number)


def mask(e164: str) -> str:
    """A number shortened for logs: ``+61400000000`` -> ``+614000***00``."""
    if len(e164) < 8:
        return "***"
    return e164[:-5] + "***" + e164[-2:]

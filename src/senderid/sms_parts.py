"""How a text becomes SMS segments: GSM 7-bit or UCS-2, split with a concatenation UDH.

* Text made only of GSM 03.38 characters (basic table plus the escaped extension
  table) goes as GSM 7-bit, one septet per octet as SMPP's ``data_coding`` 0 expects:
  160 septets in one SMS, 153 per segment when split.
* Anything else goes as UCS-2 (UTF-16BE, ``data_coding`` 8): 70 characters in one
  SMS, 67 per segment when split.
* A split message carries, in each segment, a 6-octet User Data Header
  (IEI 0x00: 8-bit reference, total, sequence) and needs ``esm_class`` UDHI (0x40).
  Segments never cut an escape sequence or a surrogate pair in two.
"""

from __future__ import annotations

from dataclasses import dataclass

DATA_CODING_GSM7 = 0x00
DATA_CODING_UCS2 = 0x08
ESM_CLASS_UDHI = 0x40
MAX_SEGMENTS = 255

# GSM 03.38 basic character set, by code (0x1B, the escape, is not a character).
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
                  "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
_GSM_CODES: dict[str, bytes] = {
    char: bytes([code]) for code, char in enumerate(_GSM_BASIC) if code != 0x1B
}
_GSM_CODES.update({char: bytes([0x1B, code]) for char, code in _GSM_EXTENSION.items()})

# (octets in a single SMS, octets of text per segment once a 6-octet UDH is added)
_LIMITS = {DATA_CODING_GSM7: (160, 153), DATA_CODING_UCS2: (140, 134)}


class MessageTooLong(ValueError):
    """The text needs more than 255 segments."""


@dataclass(frozen=True, slots=True)
class Segments:
    data_coding: int
    esm_class: int
    parts: list[bytes]  # each one a complete short_message (UDH included when split)


def is_gsm7(text: str) -> bool:
    return all(char in _GSM_CODES for char in text)


def split(text: str, reference: int) -> Segments:
    """The segments for ``text``; ``reference`` (0-255) ties the parts of one message."""
    if is_gsm7(text):
        coding, units = DATA_CODING_GSM7, [_GSM_CODES[char] for char in text]
    else:
        coding, units = DATA_CODING_UCS2, [char.encode("utf-16-be") for char in text]
    single, per_segment = _LIMITS[coding]
    if sum(map(len, units)) <= single:
        return Segments(coding, 0, [b"".join(units)])
    chunks: list[bytes] = []
    current = b""
    for unit in units:
        if len(current) + len(unit) > per_segment:
            chunks.append(current)
            current = b""
        current += unit
    chunks.append(current)
    if len(chunks) > MAX_SEGMENTS:
        raise MessageTooLong(f"the text needs {len(chunks)} SMS segments (at most {MAX_SEGMENTS})")
    total = len(chunks)
    parts = [
        bytes([0x05, 0x00, 0x03, reference & 0xFF, total, number]) + chunk
        for number, chunk in enumerate(chunks, start=1)
    ]
    return Segments(coding, ESM_CLASS_UDHI, parts)

"""The Australian Business Number: 11 digits whose check digits follow the ATO's rule.

The rule (ATO, "Format of the ABN"): subtract 1 from the first digit, multiply each of
the 11 digits by its weight (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19), add the products;
the number is valid when the sum divides by 89. ``51 824 753 556`` is valid.

Pure: no database, no framework.
"""

from __future__ import annotations

WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
LENGTH = 11


class InvalidAbn(ValueError):
    """Not an ABN; the text says which rule the input breaks."""


def is_valid(digits: str) -> bool:
    """Whether 11 ASCII digits pass the ATO's check-digit rule."""
    if len(digits) != LENGTH or not digits.isascii() or not digits.isdigit():
        return False
    values = [int(d) for d in digits]
    values[0] -= 1
    return sum(w * v for w, v in zip(WEIGHTS, values, strict=True)) % 89 == 0


def normalise(value: str) -> str:
    """The ABN's 11 digits (spaces removed), or :class:`InvalidAbn` saying why not."""
    digits = value.replace(" ", "")
    if len(digits) != LENGTH or not digits.isascii() or not digits.isdigit():
        raise InvalidAbn("an ABN is 11 digits (spaces allowed), e.g. 51 824 753 556")
    if not is_valid(digits):
        raise InvalidAbn("this is not a valid ABN: its check digits do not match (ATO rule)")
    return digits


def formatted(digits: str) -> str:
    """``51824753556`` -> ``51 824 753 556`` (how the ATO writes it)."""
    return f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"

"""The quick path of mobile numbers (``+<code><number>`` and ``0<number>`` in the first
accepted region) answers exactly as phonenumbers' full parse does, over every kind of input."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from senderid import numbers
from senderid.numbers import InvalidNumber

REGION_LISTS = [("AU",), ("AU", "NZ"), ("NZ", "AU"), ("NZ",), ("GB", "AU"), ("CX",)]


def full_parse(value: str, regions: tuple[str, ...]) -> str | None:
    """What the full parse says: the E.164 form of a mobile, or None when it refuses."""
    try:
        parsed = numbers._parse(value, regions)
    except InvalidNumber:
        return None
    if phonenumbers.number_type(parsed) not in numbers._MOBILE_TYPES:
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def inputs(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        nine = "".join(rng.choice("0123456789") for _ in range(rng.choice((7, 8, 9, 10))))
        lead = rng.choice(["0", "+61", "+64", "+44", "+610", "61", "", "0", "+61", "+6189164"])
        made.append(lead + rng.choice(["4", "2", "3", "7", "8", "5", "1", "9"]) + nine)
        # and numbers shaped like each country's mobiles, valid or not
        made.append(rng.choice(["04", "+614", "021", "+6421", "+6427", "07", "+447", "+61 4", "04 "])
                    + "".join(rng.choice("0123456789 ") for _ in range(rng.choice((7, 8, 9)))).strip())
    return made


@pytest.mark.parametrize("regions", REGION_LISTS)
def test_the_quick_path_agrees_with_the_full_parse(regions: tuple[str, ...]) -> None:
    answered = 0
    for value in inputs(hash(regions) & 0xFFFF, 4000) + ["0491570159", "+61491570159", "+61 491 570 159",
                                                         "0491 570 159", "+6421123456", "021123456"]:
        digits = numbers._digits(value)
        quick = numbers._common_mobile(digits, regions)
        if quick is not None:
            answered += 1
            assert quick == full_parse(value, regions), value
    if regions[0] != "CX":  # Christmas Island shares Australia's code: never the quick path's
        assert answered > 100  # the quick path is taken, not only declined
    else:
        assert answered == 0


def test_parse_mobile_gives_the_same_answers_with_and_without_the_quick_path(monkeypatch: pytest.MonkeyPatch) -> None:
    values = inputs(7, 1500)
    with_quick = {}
    for value in values:
        try:
            with_quick[value] = numbers._parse_mobile(value, ("AU",))
        except InvalidNumber as exc:
            with_quick[value] = str(exc)
    monkeypatch.setattr(numbers, "_common_mobile", lambda digits, regions: None)
    for value in values:
        try:
            without = numbers._parse_mobile(value, ("AU",))
        except InvalidNumber as exc:
            without = str(exc)
        assert with_quick[value] == without, value

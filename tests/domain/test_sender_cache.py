"""The per-process memory of sender answers (domain/senders.py): one answer per (account,
sender), bounded, forgotten per account, and never refilled by a read that raced a change."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from senderid.domain.senders import KEYS_CHANNEL, MISS, SENDERS_CHANNEL, Sender, SenderCache, sender_key

pytestmark = pytest.mark.unit

NUMBER = sender_key("+61491570156", "+61491570156")
NAME = sender_key(None, "acme")
YES = Sender("custom_number", "+61491570156")


class Heard:
    """A listener that is live and hands out its subscribers (the signals are sent by hand)."""

    live = True

    def __init__(self) -> None:
        self.callbacks: dict[str, Callable[[str, str | None], None]] = {}

    def subscribe(self, channel: str, callback: Callable[[str, str | None], None]) -> None:
        self.callbacks[channel] = callback


def live_cache(**options: int) -> tuple[SenderCache, Heard]:
    cache, listener = SenderCache(60.0, **options), Heard()
    cache.attach(listener)
    return cache, listener


def test_no_and_yes_are_both_kept_per_sender() -> None:
    cache, _ = live_cache()
    assert cache.sender("a", NUMBER) is MISS
    cache.put_sender("a", NUMBER, YES, cache.sender_generation("a"))
    cache.put_sender("a", NAME, None, cache.sender_generation("a"))
    assert cache.sender("a", NUMBER) == YES
    assert cache.sender("a", NAME) is None  # "may not", from memory
    assert cache.sender("b", NUMBER) is MISS  # another account's answer is its own


def test_a_signal_forgets_that_account_only() -> None:
    cache, listener = live_cache()
    for account in ("a", "b"):
        cache.put_sender(account, NUMBER, YES, cache.sender_generation(account))
    listener.callbacks[SENDERS_CHANNEL](SENDERS_CHANNEL, "a")
    assert cache.sender("a", NUMBER) is MISS and cache.sender("b", NUMBER) == YES
    listener.callbacks[KEYS_CHANNEL](KEYS_CHANNEL, "b")  # an account change forgets its senders too
    assert cache.sender("b", NUMBER) is MISS
    cache.put_sender("a", NUMBER, YES, cache.sender_generation("a"))
    listener.callbacks[SENDERS_CHANNEL](SENDERS_CHANNEL, None)  # anything may have changed
    assert cache.sender("a", NUMBER) is MISS and not cache.holds_senders("a")


def test_a_read_that_raced_a_change_of_its_account_is_not_kept() -> None:
    cache, _ = live_cache()
    before_a, before_b = cache.sender_generation("a"), cache.sender_generation("b")
    cache.forget_senders("a")  # committed while both reads were at the database
    cache.put_sender("a", NUMBER, YES, before_a)
    cache.put_sender("b", NUMBER, YES, before_b)
    assert cache.sender("a", NUMBER) is MISS  # it may be the state from before the change
    assert cache.sender("b", NUMBER) == YES  # untouched by a change to another account
    everything = cache.sender_generation("b")
    cache.forget(None)
    cache.put_sender("b", NAME, None, everything)
    assert cache.sender("b", NAME) is MISS


def test_the_least_recently_used_answer_goes_first() -> None:
    cache, _ = live_cache(max_sender_answers=2)
    cache.put_sender("a", NUMBER, YES, cache.sender_generation("a"))
    cache.put_sender("a", NAME, None, cache.sender_generation("a"))
    assert cache.sender("a", NUMBER) == YES  # used: NAME is now the oldest
    cache.put_sender("b", NUMBER, YES, cache.sender_generation("b"))
    assert cache.sender("a", NAME) is MISS
    assert cache.sender("a", NUMBER) == YES and cache.sender("b", NUMBER) == YES


def test_nothing_is_served_without_a_live_listener() -> None:
    cache = SenderCache(60.0)
    cache.put_sender("a", NUMBER, YES, cache.sender_generation("a"))
    assert cache.sender("a", NUMBER) is MISS
    cache, listener = live_cache()
    cache.put_sender("a", NUMBER, YES, cache.sender_generation("a"))
    listener.live = False
    assert cache.sender("a", NUMBER) is MISS

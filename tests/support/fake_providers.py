"""Test SMS providers: real classes implementing ``base.Provider`` that record and fail on demand.

The worker is the thing under test; these stand in for the network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from senderid.delivery.providers.base import OutgoingSms, ProviderError, SendResult


class ScriptedProvider:
    """Answers each send with the next scripted outcome: an exception to raise, or success.

    ``script`` items: ``None`` (accept) or a ProviderError/Exception instance (raise it).
    When the script runs out, every further send uses ``then`` (accept by default).
    ``before_answer`` runs inside send(), after recording and before answering, to
    make things happen "while the SMS is on the wire".
    """

    name = "fake"

    def __init__(
        self,
        script: Iterable[BaseException | None] = (),
        *,
        then: BaseException | None = None,
        before_answer: Callable[[OutgoingSms], None] | None = None,
    ) -> None:
        self._script = list(script)
        self._then = then
        self._before_answer = before_answer
        self._lock = threading.Lock()
        self.calls: list[OutgoingSms] = []
        self.accepted: list[OutgoingSms] = []
        self.closed = False

    def send(self, sms: OutgoingSms) -> SendResult:
        with self._lock:
            self.calls.append(sms)
            outcome = self._script.pop(0) if self._script else self._then
        if self._before_answer is not None:
            self._before_answer(sms)
        if outcome is not None:
            raise outcome
        with self._lock:
            self.accepted.append(sms)
        return SendResult(provider_message_id=f"fake-{sms.message_id}")

    def close(self) -> None:
        self.closed = True

    @property
    def ids(self) -> list[str]:
        with self._lock:
            return [sms.message_id for sms in self.calls]


def always(error: ProviderError | Exception) -> ScriptedProvider:
    """A provider that fails every send with ``error``."""
    return ScriptedProvider(then=error)

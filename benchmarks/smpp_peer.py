"""SMPP throughput of SmppProvider against a third-party SMSC (node-smpp).

    python -m benchmarks.smpp_peer [--messages 5000] [--threads 64] [--window 10]
                                   [--binds 1] [--delay-ms 20] [--warmup 200] [--json]

Starts ``peers/node_smsc/smsc.js`` (the ``smpp`` package from the npm registry,
installed with npm on first use) answering each ``submit_sm`` after ``--delay-ms``, and
has ``--threads`` threads call ``SmppProvider.send`` (the worker's interface) until
``--messages`` single-part SMS are accepted. Prints msg/s and its share of the limit
``window x binds / delay`` (500 msg/s for window 10, one bind, 20 ms).

:func:`measure` returns the same numbers as a dict, for a benchmark table:
``measure(messages=5000, threads=64, window=10, binds=1, delay_ms=20)`` ->
``{"messages", "seconds", "per_second", "limit_per_second", "ratio", "max_outstanding_per_bind",
"binds", "window", "delay_ms", "threads"}``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from peers.node_smsc import NodeSmsc, unavailable
from senderid.delivery.providers.base import OutgoingSms, ProviderError
from senderid.delivery.providers.smpp import SmppProvider


def _drive(provider: SmppProvider, count: int, threads: int, first: int) -> tuple[float, int]:
    """Send ``count`` messages from ``threads`` threads; (seconds, errors)."""
    counter = iter(range(first, first + count))
    lock = threading.Lock()
    errors = 0
    reasons: dict[str, int] = {}

    def work() -> None:
        nonlocal errors
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            sms = OutgoingSms(message_id=f"{n:024x}", to=f"+6149157{n % 10000:04d}",
                              sender="+61491570157", body=f"Benchmark message {n}")
            try:
                provider.send(sms)
            except ProviderError as error:
                with lock:
                    errors += 1
                    reasons[error.reason] = reasons.get(error.reason, 0) + 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for reason, times in sorted(reasons.items()):
        print(f"  {times} x {reason}")
    return time.perf_counter() - started, errors


def measure(messages: int = 5000, threads: int = 64, window: int = 10, binds: int = 1,
            delay_ms: float = 20, warmup: int = 200) -> dict[str, Any]:
    reason = unavailable()
    if reason:
        raise RuntimeError(f"the node SMSC cannot run: {reason}")
    with NodeSmsc(delay_ms=delay_ms) as smsc:
        provider = SmppProvider("127.0.0.1", smsc.port, smsc.system_id, smsc.password,
                                timeout=10.0, window=window, binds=binds)
        try:
            provider.connect()
            _drive(provider, warmup, threads, 1)
            smsc.reset()
            seconds, errors = _drive(provider, messages, threads, warmup + 1)
            stats = smsc.stats()
        finally:
            provider.close()
    if errors:
        raise RuntimeError(f"{errors} of {messages} sends failed")
    if stats["submits"] != messages:
        raise RuntimeError(f"the SMSC took {stats['submits']} submit_sm for {messages} messages")
    limit = window * binds / (delay_ms / 1000.0)
    per_second = messages / seconds
    return {"messages": messages, "seconds": round(seconds, 3), "per_second": round(per_second, 1),
            "limit_per_second": round(limit, 1), "ratio": round(per_second / limit, 3),
            "max_outstanding_per_bind": stats["max_outstanding_per_bind"], "binds": stats["binds"],
            "window": window, "delay_ms": delay_ms, "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args()
    result = measure(args.messages, args.threads, args.window, args.binds, args.delay_ms,
                     args.warmup)
    if args.json:
        print(json.dumps(result))
        return
    print(f"smpp (node-smpp, {args.delay_ms:g} ms per submit_sm_resp, window {args.window}, "
          f"{args.binds} bind(s), {args.threads} threads): {result['per_second']:.0f} msg/s, "
          f"{result['ratio']:.0%} of window x binds / latency = {result['limit_per_second']:.0f} msg/s "
          f"(max {result['max_outstanding_per_bind']} outstanding per bind)")


if __name__ == "__main__":
    main()

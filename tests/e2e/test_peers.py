"""One provider peer serves the tests (in a thread) and the benchmarks (its own process) alike:
the same protocol answers, and the same hand-off counters behind the same control paths."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from peers import serve
from peers.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioPeer


@contextmanager
def in_a_thread() -> Iterator[str]:
    with TwilioPeer() as peer:
        yield peer.url


@contextmanager
def in_a_process() -> Iterator[str]:
    with serve.started("twilio", latency=0.0) as peer:
        yield peer.base


@pytest.mark.parametrize("served", [in_a_thread, in_a_process], ids=["thread", "process"])
def test_the_peer_answers_and_counts_the_same_either_way(served) -> None:
    auth = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    with served() as base, httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/healthz").status_code == 200

        def send(to: str, authorization: str = auth) -> httpx.Response:
            return client.post(serve.send_path("twilio"), data={"To": to, "From": "+61491570156", "Body": "hi"},
                               headers={"Authorization": authorization})

        assert send("+61491570157").status_code == 201
        assert send("+61491570158").status_code == 201
        assert send("+61491570157").status_code == 201
        refused = send("+61491570159", authorization="Basic " + base64.b64encode(b"AC:wrong").decode())
        assert (refused.status_code, refused.json()["code"]) == (401, 20003)

        stats = client.get("/_peer/stats").json()
        assert (stats["handoffs"], stats["distinct"], stats["twice"], stats["refused"]) == (3, 2, 1, 1)
        first = client.get("/_peer/first", params={"key": "+61491570158"}).json()
        assert first["index"] == 1 and first["time"] <= stats["times"][2]
        assert client.get("/_peer/first", params={"key": "+61491570159"}).json() == {"time": None, "index": None}

        assert client.post("/_peer/reset").status_code == 200
        assert client.get("/_peer/stats").json()["handoffs"] == 0

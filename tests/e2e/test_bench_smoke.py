"""The benchmark harness runs end to end (a second per row, SQLite, 1k stored numbers).

No timing is asserted: this only proves that `make bench` works — servers start,
the ceiling answers what senderid answers, every wrk script drives its row, numbers
never collide (no 4xx), and the table is written. The delivery rows run with tiny
backlogs: the peers count hand-offs, none twice. It needs wrk; CI installs it (the smpp
row also needs node and npm, scale-out PostgreSQL; without them those rows are left out
or skipped).

The flow row's peer, django-phone-verify, lives in its own virtualenv that the first
benchmark run installs from PyPI (about a minute): the quick run here leaves it out,
and the peer's own test runs only when that virtualenv is already there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import delivery, peer_dpv, run, smpp_peer
from peers import node_smsc
from tests.support.env import IN_CI

pytestmark = pytest.mark.slow


@pytest.fixture
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk); the benchmark harness needs it")
    return found


def test_quick_benchmark_measures_every_row(wrk: str, tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    options = run.parse_args(["--quick", "--warmup", "0", "--no-peer", "--out", str(out),
                              "--rows", ",".join(row.key for row in run.ROWS)])
    assert (options.databases, options.scales, options.duration, options.peer) == (["sqlite"], [1000], 1, False)

    results, text = run.run(options)

    assert [r.row for r in results] == [row.key for row in run.ROWS]
    with_ceiling = {row.key: row.ceiling for row in run.ROWS}
    for result in results:
        assert (result.ceiling is not None) == with_ceiling[result.row], result.row
        for server, measured in (("senderid", result.senderid), ("ceiling", result.ceiling)):
            if measured is None:
                continue  # a row without a ceiling (the message list: the ceiling has no messages)
            assert measured.requests > 0, f"{result.row}: no requests reached {server}"
            assert measured.rate > 0, f"{result.row}: nothing completed on {server}"
            assert measured.non_2xx == 0, f"{result.row} on {server}: {measured.statuses}"
        assert result.rss_mib > 0
    flow = next(r for r in results if r.row == "flow")
    assert flow.senderid.counters["flows"] <= flow.senderid.counters["adds_ok"]
    assert out.read_text() == text
    assert out.with_suffix(".json").exists()
    for row in run.ROWS:
        assert row.label in text
    assert not flow.peer and peer_dpv.NAME not in text


def test_peer_runs_beside_the_flow_row(wrk: str, tmp_path: Path) -> None:
    if not peer_dpv.installed():
        pytest.skip(f"the peer is not installed in {peer_dpv.VENV}: `python -m benchmarks.run --quick --rows flow` "
                    "installs it (about a minute, from PyPI)")
    out = tmp_path / "results.md"
    options = run.parse_args(["--quick", "--warmup", "0", "--rows", "flow", "--out", str(out)])

    [flow], text = run.run(options)

    assert flow.row == "flow" and flow.peer_workers == peer_dpv.WORKERS
    assert set(flow.peer) == {str(peer_dpv.WORKERS), "1"}
    for workers, measured in flow.peer.items():
        assert measured.non_2xx == 0 and measured.socket_errors == 0, f"{workers} workers: {measured.statuses}"
        assert 0 < measured.counters["flows"] <= measured.counters["adds_ok"], measured.counters
        assert "no_token" not in measured.counters
    assert flow.peer_ratio is not None and flow.peer_ratio > 0
    assert "## The flow row and its peer" in text and f"{peer_dpv.NAME} flows/s (1 worker)" in text


@pytest.mark.unit
def test_options() -> None:
    options = run.parse_args(["--database", "postgresql", "--scale", "1k,1m", "--duration", "3"])
    assert (options.databases, options.scales, options.duration, options.warmup) == (
        ["postgresql"], [1000, 1_000_000], 3, 1)
    assert run.parse_args([]).databases == ["sqlite", "postgresql"]
    assert run.parse_args([]).peer and not run.parse_args(["--no-peer"]).peer
    assert run.parse_args(["--quick", "--database", "both"]).databases == ["sqlite", "postgresql"]
    with pytest.raises(SystemExit):
        run.parse_args(["--rows", "nope"])
    assert run.parse_args([]).delivery.rows == delivery.ROW_KEYS
    only = run.parse_args(["--delivery-only", "--quick"])
    assert only.delivery.rows == delivery.ROW_KEYS and not set(only.rows) & {row.key for row in run.ROWS}
    assert (only.delivery.backlog, only.delivery.otp_bulk) == (300, 300)
    picked = run.parse_args(["--rows", "token,otp-behind-bulk", "--otp-bulk", "5000"])
    assert (picked.delivery.rows, picked.delivery.otp_bulk) == (("otp-behind-bulk",), 5000)


@pytest.mark.unit
def test_steady_rate_takes_the_middle_of_the_hand_offs() -> None:
    times = [0.0] * 10 + [1.0 + i / 100 for i in range(81)] + [50.0] * 9  # a slow start and a straggler
    assert delivery.steady_rate(times) == pytest.approx(100, rel=0.02)
    assert delivery.steady_rate([1.0, 2.0]) is None


def test_delivery_rows_run_and_count_at_the_peer(wrk: str, tmp_path: Path) -> None:
    """Every delivery row, with a tiny backlog: the peers count hand-offs, none twice, none refused."""
    out = tmp_path / "results.md"
    rows = [row for row in delivery.ROW_KEYS if row != "failover"]  # hands some over twice: its own test
    if shutil.which("node") is None or shutil.which("npm") is None:
        rows.remove("smpp")
    options = run.parse_args(["--quick", "--rows", ",".join(rows), "--backlog", "60", "--otp-bulk", "20",
                              "--delivery-deadline", "3", "--otp-timeout", "20", "--out", str(out)])

    _results, text = run.run(options)

    found = {r["row"]: r for r in json.loads(out.with_suffix(".json").read_text())["delivery"]}
    assert list(found) == rows
    for key, r in found.items():
        if r["note"].startswith("skipped"):  # scale-out without PostgreSQL
            continue
        assert r["handoffs"] > 0, f"{key}: nothing reached the peer"
        assert r["twice"] == 0 and r["refused"] == 0, f"{key}: {r}"
        assert r["value"] is not None, f"{key}: no rate or time measured: {r}"
        if key != "otp-behind-bulk":
            assert r["baseline"] and r["ratio"] is not None
            assert r["handoffs"] <= r["queued"]
    assert found["otp-behind-bulk"]["handoffs"] <= 21
    assert "## Delivery" in text and out.read_text() == text


def test_the_failover_row_runs(wrk: str, tmp_path: Path) -> None:
    """The failover row with a tiny backlog: the first peer takes half, dies, the second takes
    the rest; none lost, no more twice than the window held at the failure."""
    import inspect

    from senderid.delivery.worker import Worker

    if "routes" not in inspect.signature(Worker).parameters:
        pytest.skip("this senderid's worker does not serve SENDERID_ROUTES_FILE")
    out = tmp_path / "results.md"
    options = run.parse_args(["--quick", "--rows", "failover", "--backlog", "200", "--delivery-deadline", "15",
                              "--out", str(out)])

    run.run(options)

    [found] = json.loads(out.with_suffix(".json").read_text())["delivery"]
    assert found["row"] == "failover" and found["value"] and found["baseline"], found
    details = found["details"]
    assert details["unsent"] == 0 and details["outbox"] == {"sent": 200}, found
    assert details["first_handoffs"] >= 100 and details["second_handoffs"] > 0, found
    assert found["handoffs"] <= found["queued"] + found["twice"] and found["twice"] <= 64, found
    assert found["refused"] == 0 and found["ratio"] is not None


def test_the_smpp_benchmark_runs() -> None:
    """benchmarks/smpp_peer.py end to end against the node SMSC, small (no timing is asserted)."""
    reason = node_smsc.unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"the node SMSC is required under CI=true: {reason}")
        pytest.skip(reason)

    result = smpp_peer.measure(messages=200, threads=16, window=4, binds=2, delay_ms=5, warmup=20)

    assert result["messages"] == 200 and result["per_second"] > 0
    assert result["binds"] == 2 and 1 < result["max_outstanding_per_bind"] <= 4


@pytest.mark.unit
def test_benchmark_numbers_are_valid_mobiles_that_never_collide() -> None:
    from benchmarks import load
    from senderid.numbers import parse_mobile

    prefixes = [load.NUMBER_PREFIX, run.PREFIX_ADD, run.PREFIX_FLOW, run.PREFIX_PREFLIGHT]
    assert len(set(prefixes)) == len(prefixes)
    for prefix in prefixes:
        for value in (0, run.NUMBER_SPACE - 1):
            number = f"{prefix}{value:07d}"
            assert parse_mobile(number, ("AU",)) == number
    assert parse_mobile(run.CHECK_NUMBER, ("AU",)).startswith("+61")


def test_gateway_and_process_rows_run(wrk: str, tmp_path: Path) -> None:
    """Gateway acceptance per database and the flow at one and two processes print their tables."""
    out = tmp_path / "results.md"
    options = run.parse_args(["--quick", "--warmup", "0", "--no-peer", "--rows", "gateway,processes",
                              "--gateway-messages", "1000", "--out", str(out)])
    _results, text = run.run(options)
    assert "## Gateway acceptance" in text and "## The flow at one and two processes" in text
    data = json.loads(out.with_suffix(".json").read_text())
    assert [a["database"] for a in data["gateway"]] == ["sqlite"] and data["gateway"][0]["rates"][0] > 0
    [scaled] = data["processes"]
    assert all(scaled[side][str(n)][0] > 0 for side in ("senderid", "ceiling") for n in (1, 2)), scaled

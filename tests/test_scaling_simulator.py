"""The scaling simulator: exact figures on a handmade trace, and the CLI's JSON lines."""

from __future__ import annotations

import json

import pytest
from switchboard.scaling import ScalingParams

import bench.common
from bench import scaling

pytestmark = pytest.mark.unit

# Two calls 1 s apart (the second finds no warm worker), then a lone call after the scale-down.
TRACE = [(5.0, 20.0), (6.0, 20.0), (100.0, 10.0)]
PARAMS = ScalingParams(
    calls_per_worker=1, warm_workers=1, min_workers=0, max_workers=10, scale_down_delay_s=30.0
)
KEYS = {
    "policy",
    "cold_calls",
    "cold_pct",
    "wait_mean_s",
    "wait_p95_s",
    "worker_seconds_per_call_second",
    "peak_workers",
}


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    runs = scaling.simulate(TRACE, PARAMS, pod_start_s=10.0, react_s=0.0)
    return {m["policy"]: m for m, _ in runs}


def pick(m: dict, *keys: str) -> tuple:
    return tuple(m[k] for k in keys)


FIGURES = (
    "cold_calls",
    "wait_mean_s",
    "wait_p95_s",
    "worker_seconds",
    "peak_workers",
    "pods_started",
    "busy_pods_removed",
)


def test_switchboard_exact(results) -> None:
    # w0 warm at 0; A at 5 takes it and asks for w1 (ready 15); B at 6 waits and asks for w2
    # (ready 16); B served at 15. Idle from 25 (w0), 16 (w2), 35 (w1): w2 goes at 46, w0 at 55.
    # C at 100 takes w1 and asks for w3; the trace ends at 110.
    # worker-seconds: w0 55 + w1 105 + w2 40 + w3 10 = 210 over 50 call-seconds.
    m = results["switchboard"]
    assert pick(m, *FIGURES) == (1, 3.0, 9.0, 210.0, 3, 4, 0)
    assert (m["cold_pct"], m["worker_seconds_per_call_second"]) == (33.333, 4.2)


def test_fixed_buffer_exact(results) -> None:
    # Reacts 0.5 s after a change: w1 at 5.5 (ready 15.5), w2 at 6.5; B served at 15.5; idle
    # pods go at once: w2 at 25.5, w1 at 36; w3 at 100.5.
    # worker-seconds: w0 110 + w1 30.5 + w2 19 + w3 9.5 = 169.
    m = results["fixed-buffer"]
    assert pick(m, *FIGURES) == (1, 3.167, 9.5, 169.0, 3, 4, 0)
    assert m["worker_seconds_per_call_second"] == 3.38


def test_hpa_like_exact(results) -> None:
    # One pod (minReplicas); the 15 s sync sees 2 calls: ceil(2 / 0.7) = 3; both new pods are
    # ready at 25, when A ends and B takes w0; the 300 s stabilisation keeps 3 to the end.
    m = results["hpa-like"]
    assert pick(m, *FIGURES) == (1, 6.333, 19.0, 300.0, 3, 3, 0)


def test_keda_like_exact(results) -> None:
    # Zero pods; the 30 s poll sees 2 calls: 2 pods ready at 40; the cooldown keeps them.
    m = results["keda-like"]
    assert pick(m, *FIGURES) == (2, 23.0, 35.0, 160.0, 2, 2, 0)


def test_switchboard_never_removes_a_busy_worker_on_the_shipped_traces() -> None:
    trace = scaling.load_trace(scaling.TRACES / "bursty.csv")
    params = ScalingParams(1, 8, 0, 1000, 30.0, pod_start_s=10.0)
    by = {m["policy"]: m for m, _ in scaling.simulate(trace, params, pod_start_s=10.0)}
    assert by["switchboard"]["busy_pods_removed"] == 0
    assert by["switchboard"]["calls"] == len(trace)


def test_cli_prints_one_json_line_per_policy(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path / "results")
    trace = tmp_path / "tiny.csv"
    trace.write_text("start_s,duration_s\n" + "".join(f"{s},{d}\n" for s, d in TRACE))
    png = tmp_path / "tiny.png"
    argv = ["--trace", str(trace), "--pod-start-s", "10", "--json", "--plot", str(png)]
    assert scaling.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [json.loads(line) for line in lines]
    policies = ["switchboard", "predictive", "hpa-like", "keda-like", "fixed-buffer"]
    assert [r["policy"] for r in rows] == policies
    assert all(r.keys() >= KEYS for r in rows)
    assert png.stat().st_size > 0
    saved = json.loads((tmp_path / "results" / "scaling-tiny.json").read_text())
    assert [r["policy"] for r in saved["policies"]] == [r["policy"] for r in rows]


def test_cli_table_without_json(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    trace = tmp_path / "tiny.csv"
    trace.write_text("start_s,duration_s\n" + "".join(f"{s},{d}\n" for s, d in TRACE))
    assert scaling.main(["--trace", str(trace), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "worker-s/call-s" in out
    assert "fixed-buffer" in out


def test_generated_traces_are_repeatable_per_seed() -> None:
    from bench.traces.generate import KINDS  # noqa: PLC0415

    for kind, make in KINDS.items():
        assert make(5) == make(5), kind
        assert make(5) != make(6), kind
        assert all(d > 0 for _, d in make(5)) and make(5) == sorted(make(5)), kind


def test_cli_generates_a_trace_and_reports_the_limit(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path)
    argv = ["--generate", "flash-crowd", "--seed", "3", "--no-plot", "--coverage", "0.99"]
    assert scaling.main(argv) == 0
    out = capsys.readouterr().out
    assert "flash-crowd-s3" in out and "physical limit" in out and "predictive" in out
    saved = json.loads((tmp_path / "scaling-flash-crowd-s3.json").read_text())
    assert saved["params"]["predictive"]["coverage"] == 0.99
    by = {r["policy"]: r for r in saved["policies"]}
    # Nothing beats the clairvoyant fleet; every policy is at or above its worker-seconds.
    assert all(r["limit_ratio"] >= 1.0 for r in by.values())
    assert set(saved["targets"]) >= {"predictive_cold_pct_le_0_5", "predictive_pods_per_call_le_1"}


def test_suite_summary_counts_the_traces_that_meet_each_target() -> None:
    from bench.scaling_suite import summary  # noqa: PLC0415

    def row(cold: float, vs_hpa: float, pods: float) -> dict:
        pred = {"cold_pct": cold, "limit_ratio": 1.2, "pods_per_call": pods}
        checks = {
            "predictive_worker_seconds_vs_hpa": vs_hpa,
            "predictive_cold_pct_le_0_5": cold <= 0.5,
            "predictive_worker_seconds_le_0_8_hpa": vs_hpa <= 0.8,
            "predictive_pods_per_call_le_1": pods <= 1,
        }
        return {"policies": {"predictive": pred}, "targets": checks}

    total = summary([row(0.1, 0.7, 0.5), row(2.0, 0.9, 1.2), row(0.4, 0.8, 1.0)])
    assert (total["meet_cold"], total["meet_worker_seconds"], total["meet_pods_per_call"]) == (
        2,
        2,
        2,
    )
    assert total["cold_pct_max"] == 2.0 and total["vs_hpa_max"] == 0.9

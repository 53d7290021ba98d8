"""`make up` reaches Ready and `make down` leaves no process; the bookkeeping behind both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack import cluster as devcluster
from devstack import tools
from devstack.runstate import Component, RunState, is_zombie, start_ticks
from devstack.tools import REPO
from tests.support.binaries import require_binary
from tests.support.kube import wait_for

CLUSTER = "switchboard-uptest"


def devstack_up(command: str, run_dir: Path, workdir: Path, timeout: float) -> tuple[int, str]:
    args = [
        sys.executable,
        "-m",
        "devstack.up",
        command,
        "--run-dir",
        str(run_dir),
        "--cluster-name",
        CLUSTER,
        "--cluster-workdir",
        str(workdir),
        "--free-ports",
        "--local",
        "--owner-pid",
        str(os.getpid()),
    ]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    done = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, done.stdout + done.stderr


def alive(pid: int, ticks: int) -> bool:
    return start_ticks(pid) == ticks and not is_zombie(pid)


@pytest.mark.k8s
@pytest.mark.livekit
def test_up_reaches_ready_and_down_leaves_nothing(tmp_path: Path) -> None:
    for what, path in {
        **devcluster.required_binaries(),
        "helm": tools.helm(),
        "livekit-server": tools.livekit_server(),
    }.items():
        require_binary(path, what)
    require_binary(tools.redis_server(), "redis-server")
    devcluster.reap_orphans(CLUSTER)  # left by a killed session
    run_dir, workdir = tmp_path / "run", tmp_path / "kwok"
    seen: dict[int, int] = {}
    try:
        code, out = devstack_up("up", run_dir, workdir, timeout=900)
        assert code == 0, out[-6000:]
        assert "Switchboard is up" in out and "Test call" in out and "livekit-sip" in out
        state = RunState.load(run_dir)
        assert state is not None
        assert {c.name for c in state.components} == {
            "redis",
            "livekit-server",
            "livekit-sip",
            "operator",
            "routes-mirror",
            "gateway",
            "agent-worker/front-desk",
        }
        assert all(c.alive() for c in state.components)
        # the operator runs with the chart's RBAC, not as cluster admin
        assert state.info["operator_identity"].startswith("system:serviceaccount:switchboard:")
        # the operator's /metrics agree with the VoiceAgent it made Ready
        with urllib.request.urlopen(state.info["metrics_url"], timeout=10) as resp:
            families = text_string_to_metric_families(resp.read().decode())
        ready = [
            s.value
            for f in families
            for s in f.samples
            if s.name == "switchboard_voiceagent_workers"
            and s.labels.get("voiceagent") == "front-desk"
            and s.labels["state"] == "ready"
        ]
        assert ready and ready[0] >= 1, ready
        for comp in state.components:
            seen.update({pid: start_ticks(pid) for pid in comp.members()})
        cluster = devcluster.Cluster(CLUSTER, workdir)
        seen.update({pid: start_ticks(pid) for pid in cluster.processes()})
        assert len(seen) >= 4 + 5  # our 4 components (+ children) and the control plane
        # the browser path: the operator's web route reached the gateway through the routes
        # Secret, so the demo page it printed is served and hands out a session
        demo = state.info["gateway"]["demos"]["front-desk"]
        assert f"open {demo}" in out
        with urllib.request.urlopen(demo, timeout=10) as resp:
            assert '"default/front-desk"' in resp.read().decode()
        gateway = state.info["gateway"]["url"]
        request = urllib.request.Request(
            f"{gateway}/v1/web/default/front-desk/session",
            method="POST",
            headers={"Origin": gateway},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert json.loads(resp.read())["room"].startswith("web_default_front-desk_")
        code, status = devstack_up("status", run_dir, workdir, timeout=60)
        assert code == 0, status
        assert "total (PSS" in status
    finally:
        code, down = devstack_up("down", run_dir, workdir, timeout=300)
    assert code == 0, down
    assert "no processes left" in down
    left = {pid for pid, ticks in seen.items() if alive(pid, ticks)}
    assert not left, f"still running after down: {left}"
    assert not devcluster.Cluster(CLUSTER, workdir).processes()
    assert RunState.load(run_dir) is None


@pytest.mark.unit
def test_down_with_nothing_running_is_a_no_op(tmp_path: Path) -> None:
    code, out = devstack_up("down", tmp_path / "run", tmp_path / "kwok", timeout=60)
    assert code == 0, out
    assert "no processes left" in out


@pytest.mark.unit
def test_component_stop_reaps_the_whole_session(tmp_path: Path) -> None:
    """A component's children (livekit-agents job processes, say) go down with it."""
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 300 & sleep 300 & trap '' TERM; wait"], start_new_session=True
    )
    state = RunState(str(tmp_path))
    comp = state.add("tree", proc.pid, tmp_path / "tree.log")
    wait_for(lambda: len(comp.members()) == 3, "the shell and its two children")
    members = {pid: start_ticks(pid) for pid in comp.members()}
    # the shell ignores SIGTERM: stop() must escalate to SIGKILL
    assert comp.stop(timeout=1.0) == []
    proc.wait(10)
    assert not [pid for pid, t in members.items() if alive(pid, t)]
    assert not comp.alive()


@pytest.mark.unit
def test_state_round_trip_is_private(tmp_path: Path) -> None:
    state = RunState(str(tmp_path), info={"livekit": {"api_secret": "s3cr3t"}})
    state.components.append(Component("x", os.getpid(), "log", start_ticks(os.getpid())))
    state.save()
    assert state.path.stat().st_mode & 0o777 == 0o600
    loaded = RunState.load(tmp_path)
    assert loaded is not None and loaded.components[0].alive()
    assert json.loads(state.path.read_text())["info"]["livekit"]["api_secret"] == "s3cr3t"
    # a recycled pid (same number, later start) is not "our" process
    assert not Component("x", os.getpid(), "log", start_ticks(os.getpid()) + 1).alive()

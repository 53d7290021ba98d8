"""The local stack `make up` starts: control plane, LiveKit, livekit-sip, operator and a worker."""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from switchboard.config import (
    ENV_AGENT_IMAGE,
    ENV_METRICS_LISTEN,
    ENV_PII_ROOT_KEY,
    ENV_REPORT_KEY,
    ENV_REPORT_LISTEN,
)
from switchboard.metrics import METRICS_PATH as OPERATOR_METRICS_PATH
from switchboard.names import WORKER_COMPONENT, worker_config_name, worker_secret_name
from switchboard_contract.env import (
    CONFIG_FILE_NAME,
    ENV_AGENT_CONFIG,
    ENV_HTTP_HOST,
    ENV_HTTP_PORT,
    ENV_LIVEKIT_API_KEY,
    ENV_LIVEKIT_API_SECRET,
    ENV_LIVEKIT_URL,
    ENV_PROMETHEUS_PORT,
    HEALTH_PATH,
    METRICS_PATH,
)
from switchboard_contract.report import ENV_POD_NAME, ENV_REPORT_URL, REPORT_PATH

from devstack import cluster as devcluster
from devstack import kube, local_gateway, sbc
from devstack.kube import KubeError
from devstack.livekit import LiveKitStack
from devstack.procs import Process, StartupError, free_port, port_free
from devstack.runstate import RunState, pss_kib
from devstack.sip import SipBridge
from devstack.tools import REPO
from devstack.up_summary import EXAMPLES_NS, Progress, http_ok

CLUSTER_NAME = "switchboard-dev"
OPERATOR_NS = "switchboard"
RELEASE = "switchboard"
LOCAL_AGENT_IMAGE = "switchboard-agent:dev"  # kwok's fake pods never pull it
# The LiveKit URL is user-facing (clients, the lk CLI): its default port when free.
PREFERRED = {"livekit": 7880, "sip": 5060, "gateway": local_gateway.PREFERRED_PORT}


def default_run_dir() -> Path:
    return Path(os.environ.get("SWITCHBOARD_RUN_DIR") or REPO / ".run")


def pick_port(name: str, fixed: bool) -> int:
    """The well-known port for `name` when free (and wanted), else any free port."""
    port = PREFERRED[name]
    return port if fixed and port_free(port) else free_port()


@dataclass
class LocalStack:
    """The local stack: kwok control plane, redis + livekit-server, operator, agent worker."""

    state: RunState
    fixed_ports: bool = True
    progress: Progress = field(default_factory=Progress)
    # one root for the operator and the gateway, so both hash a caller the same way
    pii_root_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    sipws: bool = False  # also the SIP-over-WebSocket SBC (kamailio + rtpengine)

    @property
    def run_dir(self) -> Path:
        return Path(self.state.run_dir)

    @property
    def cluster(self) -> devcluster.Cluster:
        owner = self.state.info.get("owner_pid")
        return devcluster.Cluster(
            self.state.cluster_name, Path(self.state.cluster_workdir), owner_pid=owner
        )

    @property
    def admin(self) -> Path:
        return self.cluster.kubeconfig

    def total_rss_kib(self) -> int:
        comps = sum(c.rss_kib() for c in self.state.components)
        return comps + sum(self.cluster.rss_kib().values())

    def total_pss_kib(self) -> int:
        comps = sum(c.pss_kib() for c in self.state.components)
        return comps + sum(pss_kib(pid) for pid in self.cluster.pid_files().values())

    def up(self) -> None:
        p = self.progress
        p.sample(self.total_rss_kib)
        p.say(f"control plane: kwok cluster {self.state.cluster_name} (etcd, kube-apiserver, ...)")
        self.cluster.up(timeout=240)
        self.state.kubeconfig = str(self.admin)
        self.state.save()
        p.say("ok  control plane ready, 1 fake node")
        self.start_livekit()
        self.install_chart_parts()
        gateway_env = local_gateway.plan(
            self.state, OPERATOR_NS, pick_port("gateway", self.fixed_ports)
        )
        self.start_operator(gateway_env)
        local_gateway.start(self.state, p, self.run_dir, self.admin, self.pii_root_key)
        docs = local_gateway.with_web(kube.load_examples(REPO / "examples"))
        self.state.info["numbers"] = [
            n
            for d in docs
            if d["kind"] == "SipTrunk"
            for n in (d["spec"].get("inbound") or {}).get("numbers", [])
        ]
        # Trunks first: a VoiceAgent whose trunk is not Ready yet backs off for 30 s.
        trunks = [d for d in docs if d["kind"] == "SipTrunk"]
        for batch in (trunks, [d for d in docs if d["kind"] != "SipTrunk"]):
            kube.apply(self.admin, batch, EXAMPLES_NS)
            names = ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in batch)
            p.say(f"applied in namespace {EXAMPLES_NS}: {names}")
            for doc in batch:
                if doc["kind"] == "SipTrunk":
                    self.wait_condition("siptrunk", doc["metadata"]["name"], "Ready")
        agents = [d["metadata"]["name"] for d in docs if d["kind"] == "VoiceAgent"]
        for name in agents:
            self.start_worker(name)
        for name in agents:
            self.wait_condition("voiceagent", name, "Ready")
        local_gateway.demo_urls(self.state, EXAMPLES_NS, agents)
        p.stop()
        self.state.info["ready_seconds"] = round(time.monotonic() - p.started, 1)
        self.state.info["peak_rss_mib"] = round(max(p.peak_kib, self.total_rss_kib()) / 1024)
        self.state.info["pss_mib"] = round(self.total_pss_kib() / 1024)
        self.state.save()

    def start_livekit(self) -> None:
        port = pick_port("livekit", self.fixed_ports)
        self.progress.say(f"LiveKit: redis + livekit-server on 127.0.0.1:{port}")
        lk = LiveKitStack(self.run_dir / "livekit", port=port).start()
        assert lk.redis is not None and lk.server is not None
        self.state.add("redis", lk.redis.pid, lk.redis.log_path, f"redis://{lk.redis_address}")
        self.state.add("livekit-server", lk.server.pid, lk.server.log_path, lk.url)
        self.state.info["livekit"] = {
            "url": lk.url,
            "api_key": lk.api_key,
            "api_secret": lk.api_secret,
            "version": lk.version,
        }
        self.state.save()
        self.progress.say(f"ok  {lk.version} at {lk.url}")
        self.start_sip(lk)

    def start_sip(self, lk: LiveKitStack) -> None:
        """livekit-sip on the same redis and keys; the port callers dial."""
        port = pick_port("sip", self.fixed_ports)
        self.progress.say(f"LiveKit SIP: livekit-sip on udp/tcp 127.0.0.1:{port}")
        sip = SipBridge(self.run_dir / "livekit", lk, port=port).start()
        assert sip.proc is not None
        self.state.add("livekit-sip", sip.proc.pid, sip.log_path, f"sip:127.0.0.1:{port}")
        self.state.info["sip"] = {
            "host": "127.0.0.1",
            "port": port,
            "version": sip.version,
            "rtp": list(sip.rtp_range),
        }
        self.state.save()
        self.progress.say(f"ok  {sip.version}, RTP {sip.rtp_range[0]}-{sip.rtp_range[1]}")
        if self.sipws:
            sbc.start_local(self.state, self.progress, self.run_dir, self.fixed_ports)

    def install_chart_parts(self) -> None:
        """CRDs and the operator's ServiceAccount + RBAC, rendered from the chart itself."""
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}
        docs = kube.render_chart(RELEASE, OPERATOR_NS, "peering.enabled=false", crds=True)
        crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
        rbac = [d for d in docs if d["kind"] in kube.RBAC_KINDS]
        kube.apply(self.admin, [ns, *crds, *rbac])
        names = [d["metadata"]["name"] for d in crds]
        kube.kubectl(
            self.admin,
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            *[f"crd/{n}" for n in names],
        )
        self.progress.say(
            f"ok  chart CRDs ({', '.join(names)}) and RBAC "
            f"({', '.join(sorted({d['kind'] for d in rbac}))})"
        )

    def operator_kubeconfig(self) -> Path:
        """The operator authenticates as the chart's ServiceAccount: the chart's RBAC, exactly."""
        sa = next(
            d
            for d in kube.render_chart(RELEASE, OPERATOR_NS, "peering.enabled=false")
            if d["kind"] == "ServiceAccount"
        )["metadata"]["name"]
        token = kube.kubectl(
            self.admin, "create", "token", sa, "-n", OPERATOR_NS, "--duration=720h"
        ).strip()
        self.state.info["operator_identity"] = f"system:serviceaccount:{OPERATOR_NS}:{sa}"
        return kube.token_kubeconfig(self.admin, token, self.run_dir / "operator.kubeconfig")

    def start_operator(self, gateway_env: dict[str, str]) -> None:
        lk = self.state.info["livekit"]
        report, liveness, metrics = free_port(), free_port(), free_port()
        report_url = f"http://127.0.0.1:{report}{REPORT_PATH}"
        env = {
            "KUBECONFIG": str(self.operator_kubeconfig()),
            ENV_LIVEKIT_URL: lk["url"],
            ENV_LIVEKIT_API_KEY: lk["api_key"],
            ENV_LIVEKIT_API_SECRET: lk["api_secret"],
            ENV_REPORT_LISTEN: f"127.0.0.1:{report}",
            ENV_REPORT_URL: report_url,
            ENV_REPORT_KEY: secrets.token_urlsafe(32),
            ENV_PII_ROOT_KEY: self.pii_root_key,
            ENV_METRICS_LISTEN: f"127.0.0.1:{metrics}",
            ENV_AGENT_IMAGE: LOCAL_AGENT_IMAGE,
            **gateway_env,
            "NO_PROXY": "127.0.0.1,localhost",
            "HTTP_PROXY": "",
            "HTTPS_PROXY": "",
            "PYTHONUNBUFFERED": "1",
        }
        health = f"http://127.0.0.1:{liveness}/healthz"
        argv = [
            sys.executable,
            "-m",
            "switchboard",
            "--standalone",
            "--all-namespaces",
            f"--liveness={health}",
        ]
        self.progress.say(
            f"operator: {' '.join(argv[1:])} as {self.state.info['operator_identity']}"
        )
        proc = Process("operator", argv, self.run_dir / "logs" / "operator.log", env=env, cwd=REPO)
        proc.start()
        self.state.add("operator", proc.pid, proc.log_path, health)
        self.state.info["report_url"] = report_url
        self.state.info["metrics_url"] = f"http://127.0.0.1:{metrics}{OPERATOR_METRICS_PATH}"
        self.state.save()
        proc.wait_ready(lambda: http_ok(health), 120)
        self.progress.say(f"ok  operator live ({health}), worker reports at {report_url}")

    def wait_condition(self, kind: str, name: str, cond: str, timeout: float = 180) -> None:
        def check() -> bool:
            self.check_components()
            return kube.is_true(kube.get(self.admin, kind, name, EXAMPLES_NS), cond)

        try:
            self.progress.wait(check, f"{kind}/{name} {cond}", timeout)
        except KubeError:
            obj = kube.get(self.admin, kind, name, EXAMPLES_NS)
            raise KubeError(f"{kind}/{name} not {cond}: {kube.condition(obj, cond)}") from None

    def check_components(self) -> None:
        dead = [c.name for c in self.state.components if not c.alive()]
        if dead:
            logs = ", ".join(c.log for c in self.state.components if c.name in dead)
            raise StartupError(f"{', '.join(dead)} exited; see {logs}")

    def start_worker(self, voiceagent: str) -> None:
        """A local agent worker with the config and credentials the operator rendered."""
        cm_name, secret_name = worker_config_name(voiceagent), worker_secret_name(voiceagent)
        self.progress.say(f"... operator renders ConfigMap/{cm_name} and Secret/{secret_name}")
        cm = self.progress.wait(
            lambda: kube.get(self.admin, "configmap", cm_name, EXAMPLES_NS),
            f"ConfigMap/{cm_name}",
            120,
        )
        secret = self.progress.wait(
            lambda: kube.get(self.admin, "secret", secret_name, EXAMPLES_NS),
            f"Secret/{secret_name}",
            60,
        )
        workdir = self.run_dir / "agents" / voiceagent
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / CONFIG_FILE_NAME
        config.write_text(cm["data"][CONFIG_FILE_NAME])
        creds = kube.secret_data(secret)
        http_port, metrics_port = free_port(), free_port()
        env = {
            # every key, as the pod's envFrom does (LIVEKIT_*, SWITCHBOARD_REPORT_TOKEN, ...)
            **creds,
            ENV_AGENT_CONFIG: str(config),
            ENV_REPORT_URL: self.state.info["report_url"],
            ENV_POD_NAME: f"local-{voiceagent}",
            ENV_HTTP_HOST: "127.0.0.1",
            ENV_HTTP_PORT: str(http_port),
            ENV_PROMETHEUS_PORT: str(metrics_port),
            "NO_PROXY": "127.0.0.1,localhost",
            "HTTP_PROXY": "",
            "HTTPS_PROXY": "",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [sys.executable, "-m", "switchboard_agent", "start"]
        name = f"{WORKER_COMPONENT}/{voiceagent}"
        health = f"http://127.0.0.1:{http_port}{HEALTH_PATH}"
        self.progress.say(f"{name}: python -m switchboard_agent start (config {config})")
        proc = Process(
            name, argv, self.run_dir / "logs" / f"agent-{voiceagent}.log", env=env, cwd=REPO
        )
        proc.start()
        self.state.add(name, proc.pid, proc.log_path, health)
        self.state.info.setdefault("agents", {})[voiceagent] = {
            "agent_name": json.loads(config.read_text())["agentName"],
            "health": health,
            "metrics": f"http://127.0.0.1:{metrics_port}{METRICS_PATH}",
        }
        self.state.save()
        proc.wait_ready(lambda: http_ok(health), 180)
        self.progress.say(f"ok  {name} registered with LiveKit ({health})")
        # A call is only answered promptly once livekit-agents has prewarmed a job process.
        self.progress.say(f"... {name} prewarms its job process")
        proc.wait_ready(lambda: "process initialized" in proc.log_tail(400), 180)
        self.progress.say(f"ok  {name} has a warm job process")

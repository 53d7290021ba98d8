"""Config files of the real node: containerd (v3 TOML), the CNI bridge, kubelet and kube-proxy."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

TAINT_KEY = "switchboard.dev/real-node"
# One real node per machine (kube-proxy owns the host's KUBE-* chains): one bridge, one subnet.
BRIDGE = "sbnode0"
SUBNET = "10.213.0.0/24"
# The bridge address: the node's InternalIP and the apiserver's advertised address, relayed
# to its loopback port (devstack/node_relay.py) so pods reach it through the Service.
NODE_IP = "10.213.0.1"


def containerd_toml(
    *, root: Path, state: Path, address: Path, cni_bin: Path, cni_conf: Path, sandbox: str
) -> str:
    """containerd 2.x config: CRI with Debian's runc (cgroupfs), overlayfs, our CNI dirs.

    Everything it writes lives under `root`/`state`; network namespaces too
    (netns_mounts_under_state_dir), so teardown finds every mount under one directory.
    """
    cri = '[plugins."io.containerd.cri.v1.runtime"'
    return f"""version = 3
root = "{root}"
state = "{state}"
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.erofs",
]

[grpc]
  address = "{address}"

[ttrpc]
  address = "{address}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

{cri}]
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # This host withholds CAP_SYS_RESOURCE: no OOM score below containerd's own (kubelet asks
  # -998 for sandboxes and -997 for Guaranteed pods); runc would fail to start them.
  restrict_oom_score_adj = true

{cri}.containerd]
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  BinaryName = "/usr/sbin/runc"
  Root = "{state}/runc"
  SystemdCgroup = false

{cri}.cni]
  bin_dirs = ["{cni_bin}"]
  conf_dir = "{cni_conf}"
  max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

[plugins."io.containerd.cri.v1.images".pinned_images]
  sandbox = "{sandbox}"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
"""


def cni_conflist(*, bridge: str, subnet: str, ipam_dir: Path) -> str:
    """A bridge local to this machine; no masquerade, so nothing is NATed off it."""
    doc = {
        "cniVersion": "1.0.0",
        "name": "switchboard",
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                # Not a gateway: the plugin would switch on the host's ip_forward. The bridge
                # already holds the gateway address (devstack/node.py creates it).
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet, "gateway": gateway(subnet)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def kubelet_yaml(
    *,
    runtime: Path,
    address: str,
    client_ca: Path,
    pod_logs: Path,
    port: int,
    healthz_port: int,
    pod_cidr: str,
) -> str:
    """KubeletConfiguration for this host: cgroup v1 allowed, cgroupfs, bound to the bridge."""
    doc = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # this host mounts cgroup v1 (kubelet 1.36 refuses it by default)
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{runtime}",
        "imageServiceEndpoint": f"unix://{runtime}",
        "address": address,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "podLogsDir": str(pod_logs),
        "podCIDR": pod_cidr,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "registerWithTaints": [{"key": TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "resolvConf": "/etc/resolv.conf",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "nodeStatusReportFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "localStorageCapacityIsolation": True,
    }
    return json.dumps(doc, indent=2) + "\n"


def gateway(subnet: str) -> str:
    """The bridge's own address in `subnet` (host-local hands out .1 as the gateway)."""
    return str(next(ipaddress.ip_network(subnet).hosts()))


def kube_proxy_yaml(
    *, kubeconfig: Path, hostname: str, cluster_cidr: str, healthz_port: int, metrics_port: int
) -> str:
    """KubeProxyConfiguration: iptables mode; masquerade-all so replies on the bridge return.

    Host sysctls stay as they are: no conntrack tuning, and NodePorts only on the bridge
    address (NodePorts on 127.0.0.1 would switch on route_localnet).
    """
    doc = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": hostname,
        "clusterCIDR": cluster_cidr,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "iptables": {"masqueradeAll": True},
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "nodePortAddresses": [f"{gateway(cluster_cidr)}/32"],
    }
    return json.dumps(doc, indent=2) + "\n"

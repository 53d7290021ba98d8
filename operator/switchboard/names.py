"""Names, labels and LiveKit ownership markers: every length limit and label key lives here."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from switchboard.api import GROUP

DNS_LABEL_MAX = 63
HASH_LEN = 8

FINALIZER = f"{GROUP}/finalizer"
CREDENTIALS_ANNOTATION = f"{GROUP}/credentials-version"
MANAGED_BY = "switchboard"


def short_hash(*parts: str, length: int = HASH_LEN) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()
    return digest[:length]


def bounded(name: str, limit: int = DNS_LABEL_MAX) -> str:
    """`name` if it fits in `limit` chars, else a truncated prefix plus a stable hash suffix.

    The suffix keeps two long names with a common prefix from colliding after truncation.
    """
    if len(name) <= limit:
        return name
    return _with_suffix(name, name, limit)


def _with_suffix(cleaned: str, original: str, limit: int) -> str:
    """`cleaned`, cut to make room, plus a hash of `original`: unique per original."""
    prefix = cleaned[: limit - HASH_LEN - 1].rstrip("-.")
    return f"{prefix}-{short_hash(original)}" if prefix else short_hash(original)


def dns_label(*parts: str) -> str:
    """Join parts into a valid DNS-1123 label (lowercase alphanumerics and '-', <= 63).

    A joined name that is already valid stays as it is. One that cleaning changed gets a
    hash of the original, so `a.b` and `a-b` (both cleaned to `a-b`) never share a label.
    A clean result never ends in such a suffix unless a part did, and the parts here are
    Kubernetes names plus our fixed words, so a suffixed name cannot equal a clean one.
    """
    raw = "-".join(p for p in parts if p)
    cleaned = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")
    if cleaned == raw and len(raw) <= DNS_LABEL_MAX:
        return raw
    return _with_suffix(cleaned, raw, DNS_LABEL_MAX)


VOICEAGENT_LABEL = f"{GROUP}/voiceagent"
# Label values stop at 63 chars; this annotation carries the full VoiceAgent name.
VOICEAGENT_ANNOTATION = f"{GROUP}/voiceagent"
WORKER_COMPONENT = "agent-worker"
COMPONENT_LABEL = "app.kubernetes.io/component"
# A Secret labelled `switchboard.dev/watch: "true"` is watched, so a rotation reaches its
# SipTrunks in seconds; any other referenced Secret is re-read at the next resync.
WATCH_LABEL = f"{GROUP}/watch"
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
TRUNKS_ANNOTATION = f"{GROUP}/trunks-version"
# Inside every worker pod: the worker container and the volumes the operator mounts in it
# (a podTemplate may not reuse them).
WORKER_CONTAINER = "agent"
CONFIG_VOLUME = "config"
TMP_VOLUME = "tmp"
TMP_DIR = "/tmp"  # the worker's only writable path: its root filesystem is read-only


def worker_name(voiceagent: str) -> str:
    """Deployment and PodDisruptionBudget of a VoiceAgent's workers."""
    return dns_label(voiceagent, "worker")


def worker_config_name(voiceagent: str) -> str:
    """ConfigMap with the rendered AgentConfig."""
    return dns_label(voiceagent, "agent-config")


def call_log_name(voiceagent: str) -> str:
    """ConfigMap with the VoiceAgent's latest call summaries."""
    return dns_label(voiceagent, "calls")


def worker_secret_name(voiceagent: str) -> str:
    """Secret with the workers' LiveKit credentials and report token."""
    return dns_label(voiceagent, "worker")


def worker_selector(voiceagent: str) -> dict[str, str]:
    """Labels that select exactly one VoiceAgent's worker pods (values <= 63 chars)."""
    return {
        COMPONENT_LABEL: WORKER_COMPONENT,
        VOICEAGENT_LABEL: bounded(voiceagent),
    }


AGENT_NAME_MAX = 128


def default_agent_name(namespace: str, name: str) -> str:
    """The LiveKit agent name a VoiceAgent registers under unless spec.agentName is set.

    `<namespace>/<name>`: a namespace has no '/', so no two VoiceAgents share it (with '-',
    team-a/support and team/a-support did), and spec.agentName's pattern has no '/', so an
    explicit name never equals a default one.
    """
    return bounded(f"{namespace}/{name}", AGENT_NAME_MAX)


def labels(component: str, instance: str, *, version: str | None = None) -> dict[str, str]:
    """Standard app.kubernetes.io labels for objects the operator creates."""
    out = {
        "app.kubernetes.io/name": "switchboard",
        "app.kubernetes.io/instance": bounded(instance),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "switchboard",
        "app.kubernetes.io/managed-by": "switchboard-operator",
    }
    if version:
        out["app.kubernetes.io/version"] = bounded(version)
    return out


@dataclass(frozen=True)
class Owner:
    """Identifies the Kubernetes object that owns a LiveKit object (stored in its metadata)."""

    kind: str
    namespace: str
    name: str
    uid: str

    def livekit_name(self, suffix: str = "") -> str:
        """A readable LiveKit object name: <namespace>/<name>[/<suffix>] (no limit in LiveKit)."""
        return "/".join(p for p in (self.namespace, self.name, suffix) if p)

    def metadata(self, role: str) -> str:
        """JSON for the LiveKit object's metadata: enough to adopt it after a lost status."""
        return json.dumps(
            {
                "managedBy": MANAGED_BY,
                "kind": self.kind,
                "namespace": self.namespace,
                "name": self.name,
                "uid": self.uid,
                "role": role,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


def parse_owner_metadata(metadata: str) -> dict[str, Any] | None:
    """The ownership record in a LiveKit object's metadata, or None if it is not ours."""
    try:
        data = json.loads(metadata) if metadata else None
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("managedBy") == MANAGED_BY:
        return data
    return None


def owned_by(metadata: str, owner: Owner, role: str) -> bool:
    data = parse_owner_metadata(metadata)
    return data is not None and data.get("uid") == owner.uid and data.get("role") == role

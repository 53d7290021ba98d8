"""The `make up` state file and process sessions: what runs, how to find and stop all of it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from devstack.procs import rss_kib

STATE_FILE = "state.json"


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split among their users (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat split after the command name (which may contain spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def start_ticks(pid: int) -> int:
    """Process start time in clock ticks since boot (0 if gone): tells a reused pid apart."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else 0


def session_of(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[3]) if fields else -1


def is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def session_members(sid: int, since_ticks: int = 0) -> list[int]:
    """Live processes in session `sid` started at or after `since_ticks` (a leader and its tree).

    Every component is started as a session leader (start_new_session), and its children
    (livekit-agents' job processes, for instance) stay in that session.
    """
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if session_of(pid) == sid and not is_zombie(pid) and start_ticks(pid) >= since_ticks:
            members.append(pid)
    return members


@dataclass
class Component:
    """One process tree the stack started: its session leader and where it logs."""

    name: str
    pid: int
    log: str
    ticks: int = 0
    url: str = ""

    def members(self) -> list[int]:
        return session_members(self.pid, self.ticks)

    def alive(self) -> bool:
        return start_ticks(self.pid) == self.ticks and not is_zombie(self.pid)

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.members())

    def pss_kib(self) -> int:
        return sum(pss_kib(pid) for pid in self.members())

    def stop(self, timeout: float = 15.0) -> list[int]:
        """SIGTERM every member, SIGKILL what is left after `timeout`; returns survivors."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            pids = self.members()
            if not pids:
                return []
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while self.members() and time.monotonic() < deadline:
                time.sleep(0.1)
        return self.members()


@dataclass
class RunState:
    """Everything `make down` and `status` need; written to <run dir>/state.json (mode 0600)."""

    run_dir: str
    mode: str = "local"  # local | helm
    cluster_name: str = ""
    cluster_workdir: str = ""
    kubeconfig: str = ""
    components: list[Component] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / STATE_FILE

    def add(self, name: str, pid: int, log: Path, url: str = "") -> Component:
        comp = Component(name, pid, str(log), start_ticks(pid), url)
        self.components = [c for c in self.components if c.name != name] + [comp]
        self.save()
        return comp

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.chmod(0o600)  # holds the LiveKit secret and the report key
        tmp.replace(self.path)

    @classmethod
    def load(cls, run_dir: Path) -> RunState | None:
        path = run_dir / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        comps = [Component(**c) for c in data.pop("components", [])]
        return cls(components=comps, **data)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def processes_mentioning(marker: str) -> dict[int, str]:
    """Live processes whose command line contains `marker` (a run or cluster directory)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and not is_zombie(int(entry.name)):
            found[int(entry.name)] = cmd.strip()
    return found

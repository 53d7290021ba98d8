"""`python -m bench [name ...]`: run the named benchmarks (default: all)."""

from __future__ import annotations

import importlib
import signal
import sys

BENCHMARKS = {
    "siptrunk": "bench.siptrunk_bench",
    "voiceagent": "bench.voiceagent_bench",
    "agent": "bench.agent_bench",
    "sip": "bench.sip_bench",
    "scaling": "bench.scaling",
    "reports": "bench.reports_bench",
}


def main(argv: list[str]) -> int:
    # SIGTERM unwinds like Ctrl-C, so each benchmark's `finally` stops its processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    names = argv or list(BENCHMARKS)
    failed = []
    for name in names:
        print(f"== bench {name} ==", flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        if module.main([]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

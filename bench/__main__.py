"""`python -m bench [name ...] [--option ...]`: run the named benchmarks (default: all)."""

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
    "fuzz": "bench.fuzz_bench",
    "gateway": "bench.gateway_bench",
    "outbound": "bench.outbound_bench",
    "channels": "bench.channels_bench",
    "web": "bench.web_bench",
    "paths": "bench.paths_bench",
}


def main(argv: list[str]) -> int:
    # SIGTERM unwinds like Ctrl-C, so each benchmark's `finally` stops its processes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Options after the names go to the benchmark: `python -m bench fuzz --count 50`.
    split = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:split] or list(BENCHMARKS), argv[split:]
    if options and len(names) != 1:
        print("options need exactly one benchmark name", file=sys.stderr)
        return 2
    failed = []
    for name in names:
        print(f"== bench {name} ==", flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        if module.main(options) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

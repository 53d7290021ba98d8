"""`make up`'s stand-in for a Secret volume: the operator's gateway routes, mirrored to files.

In a cluster the gateway mounts the routes Secret and the kubelet keeps the files current; the
local stack has no kubelet for the gateway process, so this loop does that part of its job:
one file per key, written atomically, removed with its key.

    python -m devstack.routes_mirror KUBECONFIG NAMESPACE/NAME DIRECTORY
"""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

INTERVAL_S = 1.0


def sync(data: dict[str, str], directory: Path) -> None:
    """Make `directory` hold exactly `data` (key -> base64 value), each file replaced whole."""
    wanted = {key: base64.b64decode(value) for key, value in data.items()}
    for key, value in wanted.items():
        path = directory / key
        if path.exists() and path.read_bytes() == value:
            continue
        tmp = directory / f".{key}.tmp"
        tmp.write_bytes(value)
        os.replace(tmp, path)  # the gateway never reads half a route
    for path in directory.iterdir():
        if not path.name.startswith(".") and path.name not in wanted:
            path.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    kubeconfig, ref, out = argv if argv is not None else sys.argv[1:]
    namespace, _, name = ref.partition("/")
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    while True:
        try:
            secret = core.read_namespaced_secret(name, namespace)
            data = secret.data or {}
        except ApiException as err:
            if err.status != 404:
                print(f"routes mirror: {err.status} {err.reason}", file=sys.stderr, flush=True)
                time.sleep(INTERVAL_S)
                continue
            data = {}  # no routes published (yet)
        sync(data, directory)
        time.sleep(INTERVAL_S)


if __name__ == "__main__":
    sys.exit(main())

"""OCI images without Docker: a static pause image and a Debian (mmdebstrap) Python base."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack import tools

ASSETS = Path(__file__).resolve().parent / "node_assets"
REGISTRY = "localhost/switchboard"
SUITE = "bookworm"
# The stand-in for python:3.11-slim-bookworm: Debian's python3 (3.11), apt for Dockerfile
# RUN lines, passwd for useradd; /usr/local/bin/python3 as in the official image.
BASE_PACKAGES = ("python3", "ca-certificates", "passwd")
BASE_HOOKS = (
    'chroot "$1" ln -sf /usr/bin/python3 /usr/local/bin/python3',
    'chroot "$1" ln -sf /usr/bin/python3 /usr/local/bin/python',
    'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log',
)


class ImageError(RuntimeError):
    """An image could not be built or imported."""


@dataclass(frozen=True)
class Image:
    """A built image: an OCI archive in the cache and the reference it is imported as."""

    name: str
    tag: str
    archive: Path

    @property
    def ref(self) -> str:
        return f"{REGISTRY}/{self.name}:{self.tag}"


def images_dir() -> Path:
    return tools.cache_dir() / "images"


def _run(*argv: str, timeout: float = 600) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ImageError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:12]


def _package(name: str, tag: str, layer: Path, config: Sequence[str]) -> Image:
    """One-layer OCI image from `layer` (an uncompressed tar) with umoci; cached by `tag`."""
    out = images_dir() / f"{name}-{tag}.oci.tar"
    if out.exists():
        return Image(name, tag, out)
    with tempfile.TemporaryDirectory(dir=layer.parent) as tmp:
        layout = Path(tmp) / "layout"
        ref = f"{layout}:{tag}"
        _run("umoci", "init", "--layout", str(layout))
        _run("umoci", "new", "--image", ref)
        _run("umoci", "raw", "add-layer", "--image", ref, str(layer))
        _run("umoci", "config", "--image", ref, "--created", "1970-01-01T00:00:00Z", *config)
        _run("umoci", "gc", "--layout", str(layout))
        part = out.with_suffix(".part")
        _run("tar", "--sort=name", "-C", str(layout), "-cf", str(part), ".")
        part.rename(out)
    return Image(name, tag, out)


def pause_image() -> Image:
    """The pod sandbox image: devstack/node_assets/pause.c, linked statically."""
    source = (ASSETS / "pause.c").read_bytes()
    tag = _digest(source, "gcc -Os -static")
    if (images_dir() / f"pause-{tag}.oci.tar").exists():
        return Image("pause", tag, images_dir() / f"pause-{tag}.oci.tar")
    images_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        _run("gcc", "-Os", "-static", "-o", str(root / "pause"), str(ASSETS / "pause.c"))
        layer = Path(tmp) / "layer.tar"
        _run("tar", "--owner=0", "--group=0", "-C", str(root), "-cf", str(layer), "pause")
        return _package("pause", tag, layer, ["--config.entrypoint", "/pause"])


def base_image() -> Image:
    """Debian bookworm + python3 (3.11) from Debian's mirror by mmdebstrap, as one layer."""
    tag = _digest(SUITE, *BASE_PACKAGES, *BASE_HOOKS)
    cached = images_dir() / f"python-{tag}.oci.tar"
    if cached.exists():
        return Image("python", tag, cached)
    images_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        layer = Path(tmp) / "rootfs.tar"
        hooks = [f"--customize-hook={hook}" for hook in BASE_HOOKS]
        _run(
            "mmdebstrap",
            "--mode=root",
            "--variant=apt",
            f"--include={','.join(BASE_PACKAGES)}",
            *hooks,
            SUITE,
            str(layer),
            timeout=900,
        )
        env = ["--config.env", "PATH=/usr/local/bin:/usr/bin:/bin", "--config.env", "LANG=C.UTF-8"]
        return _package("python", tag, layer, [*env, "--config.cmd", "python3"])


def import_image(ctr: Path, address: Path, image: Image) -> str:
    """Import `image` into the node's containerd (CRI namespace k8s.io); return its ref."""
    _run(
        str(ctr),
        "--address",
        str(address),
        "-n",
        "k8s.io",
        "images",
        "import",
        "--local",
        "--base-name",
        f"{REGISTRY}/{image.name}",
        str(image.archive),
    )
    return image.ref


def build_all() -> dict[str, Image]:
    return {"pause": pause_image(), "python": base_image()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.images", description=__doc__)
    parser.add_argument("command", choices=["build", "list"])
    parser.parse_args(argv)
    if shutil.which("umoci") is None or shutil.which("mmdebstrap") is None:
        print("error: umoci/mmdebstrap missing (run `make tools`)", file=sys.stderr)
        return 1
    start = time.monotonic()
    try:
        built = build_all()
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = {
        name: {"ref": img.ref, "archive": str(img.archive), "bytes": img.archive.stat().st_size}
        for name, img in built.items()
    }
    print(json.dumps(report, indent=2))
    print(f"images ready in {time.monotonic() - start:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

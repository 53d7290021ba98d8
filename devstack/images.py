"""OCI images without Docker: a static pause image and a Debian (mmdebstrap) Python base."""

from __future__ import annotations

import argparse
import contextlib
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

from devstack import node_host, tools

ASSETS = Path(__file__).resolve().parent / "node_assets"
REGISTRY = "localhost/switchboard"
SUITE = "bookworm"
# The stand-in for python:3.11-slim-bookworm: Debian's python3 (3.11), apt for Dockerfile
# RUN lines, passwd for useradd; /usr/local/bin/python3 as in the official image.
BASE_PACKAGES = ("python3", "ca-certificates", "passwd")
BASE_CONFIG = (
    "--config.env",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "--config.env",
    "LANG=C.UTF-8",
    "--config.cmd",
    "python3",
)
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


def uv_image() -> Image:
    """Stand-in for ghcr.io/astral-sh/uv: the pinned uv binary (from `make tools`) at /uv."""
    version = tools.versions()["UV_VERSION"]
    binary = tools.cache_dir() / f"uv-{version}" / "bin" / "uv"
    if not binary.is_file():
        raise ImageError(f"no uv at {binary} (run `make tools`)")
    cached = images_dir() / f"uv-{version}.oci.tar"
    if cached.exists():
        return Image("uv", version, cached)
    images_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=images_dir()) as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        shutil.copy2(binary, root / "uv")
        layer = Path(tmp) / "layer.tar"
        _run("tar", "--owner=0", "--group=0", "-C", str(root), "-cf", str(layer), "uv")
        return _package("uv", version, layer, ["--config.entrypoint", "/uv"])


def base_image() -> Image:
    """Debian bookworm + python3 (3.11) from Debian's mirror by mmdebstrap, as one layer."""
    tag = _digest(SUITE, *BASE_PACKAGES, *BASE_HOOKS, *BASE_CONFIG)
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
        return _package("python", tag, layer, list(BASE_CONFIG))


# What operator/Dockerfile and agent/Dockerfile COPY from the repository root.
APP_INPUTS = ("pyproject.toml", "uv.lock", "operator", "agent", "contract", "gateway")
SKIP_PARTS = ("__pycache__", ".egg-info", ".pytest_cache", ".mypy_cache")


def _inputs_digest(dockerfile: Path) -> str:
    h = hashlib.sha256(dockerfile.read_bytes())
    for top in APP_INPUTS:
        root = tools.REPO / top
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            rel = path.relative_to(tools.REPO).as_posix()
            if any(part in rel for part in SKIP_PARTS) or rel.endswith(".pyc"):
                continue
            h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _buildah(*args: str, timeout: float = 600) -> str:
    store = images_dir() / "buildah"
    return _run(
        "buildah",
        "--root",
        str(store / "storage"),
        "--runroot",
        str(store / "run"),
        "--storage-driver",
        "overlay",
        *args,
        timeout=timeout,
    )


def app_image(name: str) -> Image:
    """operator/Dockerfile or agent/Dockerfile, built by buildah (chroot isolation) on our base.

    The base and uv images are passed as the Dockerfile's own PYTHON_IMAGE and UV_IMAGE
    build args. Only during RUN steps, the host's CA bundle and a uv.toml (native-tls) are
    mounted, so uv reaches PyPI through this machine's TLS-inspecting egress; nothing of
    either is left in the image.
    """
    dockerfile = tools.REPO / name / "Dockerfile"
    base, uv = base_image(), uv_image()
    tag = _digest(base.tag, uv.tag, _inputs_digest(dockerfile))
    cached = images_dir() / f"{name}-{tag}.oci.tar"
    if cached.exists():
        return Image(name, tag, cached)
    for image in (base, uv):
        image_id = _buildah("pull", "-q", f"oci-archive:{image.archive}").strip()
        _buildah("tag", image_id, image.ref)
    store = images_dir() / "buildah"
    uv_toml = store / "uv.toml"
    uv_toml.write_text("native-tls = true\n")
    mounts = ["--volume", f"{uv_toml}:/etc/uv/uv.toml:ro"]
    host_ca = Path("/etc/ssl/certs/ca-certificates.crt")
    if host_ca.is_file():
        mounts += ["--volume", f"{host_ca}:{host_ca}:ro"]
    ref = f"{REGISTRY}/{name}:{tag}"
    try:
        _bud(dockerfile, ref, mounts, base, uv)
        part = cached.with_suffix(".part")
        _buildah("push", ref, f"oci-archive:{part}:{tag}")
        part.rename(cached)
    finally:
        # buildah keeps failed build containers and its storage mounted: leave no mounts.
        with contextlib.suppress(ImageError):
            _buildah("rm", "--all")
        node_host.unmount_all(store)
        _remove_buildah_cni_dir()
    return Image(name, tag, cached)


def _remove_buildah_cni_dir() -> None:
    """buildah creates /etc/cni/net.d with only a cni.lock in it; remove just that."""
    net_d = Path("/etc/cni/net.d")
    if net_d.is_dir() and [p.name for p in net_d.iterdir()] == ["cni.lock"]:
        (net_d / "cni.lock").unlink()
    for made in (net_d, net_d.parent):
        with contextlib.suppress(OSError):
            made.rmdir()


def _bud(dockerfile: Path, ref: str, mounts: list[str], base: Image, uv: Image) -> None:
    _buildah(
        "bud",
        "--isolation",
        "chroot",
        "--layers",
        "--force-rm",
        "--pull-never",
        *mounts,
        "--build-arg",
        f"PYTHON_IMAGE={base.ref}",
        "--build-arg",
        f"UV_IMAGE={uv.ref}",
        "-f",
        str(dockerfile),
        "-t",
        ref,
        str(tools.REPO),
        timeout=1800,
    )


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
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--apps", action="store_true", help="also the operator and agent images")
    args = parser.parse_args(argv)
    if shutil.which("umoci") is None or shutil.which("mmdebstrap") is None:
        print("error: umoci/mmdebstrap missing (run `make tools`)", file=sys.stderr)
        return 1
    start = time.monotonic()
    try:
        built = build_all()
        if args.apps:
            built.update({name: app_image(name) for name in ("operator", "agent")})
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

"""Images and the dev loop, statically: Dockerfiles pinned and non-root, skaffold.yaml valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from devstack.tools import REPO

pytestmark = pytest.mark.unit

# The skaffold v4beta14 JSON schema, vendored so a clean clone (CI) validates without the
# shared workspace; a test keeps it identical to the shared copy when that is present.
SKAFFOLD_SCHEMA = REPO / "tests" / "data" / "skaffold-v4beta14.json"
SHARED_SCHEMA = Path(REPO).parent / "shared" / "schemas" / "skaffold-v4beta14.json"
DOCKERFILES = {
    "switchboard-operator": "operator/Dockerfile",
    "switchboard-agent": "agent/Dockerfile",
}
PINNED_IMAGE = re.compile(r"^[\w./-]+(:[\w][\w.-]*\d[\w.-]*|@sha256:[a-f0-9]{64})$")


def dockerfile(path: str) -> str:
    return (REPO / path).read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def base_images(text: str) -> list[str]:
    """Every FROM image with ARG defaults substituted (stage names resolved away)."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for word, rest in instructions(text):
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args.setdefault(key, value)
        elif word == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            if image not in stages:
                images.append(image)
            if len(parts) == 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
    return images


@pytest.mark.parametrize("path", sorted(DOCKERFILES.values()))
def test_dockerfile_is_pinned_non_root_and_locked(path: str) -> None:
    text = dockerfile(path)
    images = base_images(text)
    assert images, "no FROM"
    for image in images:
        assert PINNED_IMAGE.match(image), f"{image}: pin an exact version tag or a digest"
        assert not image.endswith(":latest")
    final_user = [rest for word, rest in instructions(text) if word == "USER"][-1]
    uid = final_user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root USER (runAsNonRoot can verify it)"
    from switchboard.voiceagent.workload import NON_ROOT_UID  # noqa: PLC0415

    assert int(uid) == NON_ROOT_UID, "the uid the operator's worker pods run as"
    runs = " ".join(rest for word, rest in instructions(text) if word == "RUN")
    assert "uv sync --locked" in runs and "--no-dev" in runs
    package = "switchboard-agent" if path.startswith("agent") else "switchboard-operator"
    assert f"--package {package}" in runs
    # Multi-stage: the build toolchain (uv) stays out of the final stage.
    final_stage = text[text.rindex("\nFROM ") :]
    assert "/uv" not in final_stage and "COPY --from=build /opt/venv" in final_stage
    assert "ENTRYPOINT" in final_stage


def test_agent_image_has_flite_and_offline_models() -> None:
    text = dockerfile("agent/Dockerfile")
    assert re.search(r"apt-get install -y --no-install-recommends[^&]*\bflite\b", text)
    assert "rm -rf /var/lib/apt/lists/*" in text
    assert 'CMD ["start"]' in text
    # the operator image carries no livekit-agents and no apt packages
    assert "apt-get" not in dockerfile("operator/Dockerfile")


def test_gateway_image_bundles_the_widget_from_the_lock() -> None:
    text = dockerfile("gateway/Dockerfile")
    for image in base_images(text):
        assert PINNED_IMAGE.match(image), f"{image}: pin an exact version tag or a digest"
    runs = " ".join(rest for word, rest in instructions(text) if word == "RUN")
    assert "npm ci" in runs and "npm install" not in runs  # exactly what package-lock.json pins
    final_stage = text[text.rindex("\nFROM ") :]
    assert "COPY --from=widget /widget/widget.js /opt/switchboard/widget.js" in final_stage
    assert "SWITCHBOARD_GATEWAY_WIDGET=/opt/switchboard/widget.js" in final_stage


def test_sbc_image_is_debian_kamailio_and_rtpengine_non_root() -> None:
    text = dockerfile("sbc/Dockerfile")
    (image,) = base_images(text)
    assert PINNED_IMAGE.match(image) and image.startswith("debian:bookworm-")
    assert re.search(
        r"apt-get install -y --no-install-recommends kamailio kamailio-websocket-modules"
        r" rtpengine-daemon",
        text,
    )
    final_user = [rest for word, rest in instructions(text) if word == "USER"][-1]
    assert final_user == "65532:65532"  # the chart's runAsUser


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".git", "tests", "bench"} <= ignored
    copied = {m for m in re.findall(r"^COPY (?!--from)(\S+)", dockerfile("agent/Dockerfile"), re.M)}
    copied |= set(re.findall(r"^COPY (?!--from)(\S+)", dockerfile("operator/Dockerfile"), re.M))
    for src in copied:
        top = src.split("/")[0]
        assert top not in ignored, f"{src} is copied but .dockerignore drops it"


def skaffold() -> dict:
    doc: dict = yaml.safe_load((REPO / "skaffold.yaml").read_text())
    return doc


def test_skaffold_matches_its_schema() -> None:
    schema = json.loads(SKAFFOLD_SCHEMA.read_text())
    doc = skaffold()
    assert doc["apiVersion"] == "skaffold/v4beta14"
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = {**doc, "build": {**doc["build"], "artifacts": [{"image": "x", "dockr": {}}]}}
    assert list(validator.iter_errors(broken)), "the schema must reject unknown fields"


def test_vendored_skaffold_schema_is_the_shared_one() -> None:
    if not SHARED_SCHEMA.exists():
        pytest.skip(f"{SHARED_SCHEMA} not present (a clean clone outside the workspace)")
    assert SKAFFOLD_SCHEMA.read_bytes() == SHARED_SCHEMA.read_bytes()


def test_skaffold_builds_both_images_and_deploys_the_chart() -> None:
    doc = skaffold()
    artifacts = {a["image"]: a for a in doc["build"]["artifacts"]}
    assert {img: a["docker"]["dockerfile"] for img, a in artifacts.items()} == DOCKERFILES
    for art in artifacts.values():
        assert (REPO / art.get("context", ".") / art["docker"]["dockerfile"]).exists()
    (release,) = doc["deploy"]["helm"]["releases"]
    assert (REPO / release["chartPath"] / "Chart.yaml").exists()
    values = yaml.safe_load((REPO / release["chartPath"] / "values.yaml").read_text())
    for key in [*release["setValueTemplates"], *release["setValues"]]:
        node = values
        for part in key.split("."):
            assert part in node, f"skaffold sets {key}, which values.yaml does not have"
            node = node[part]
    templates = json.dumps(release["setValueTemplates"])
    for image in artifacts:
        assert f"IMAGE_REPO_{image.replace('-', '_')}" in templates
    profiles = {p["name"]: p for p in doc["profiles"]}
    assert set(profiles) == {"kind", "minikube"}
    assert profiles["kind"]["activation"][0]["kubeContext"].startswith("kind-")

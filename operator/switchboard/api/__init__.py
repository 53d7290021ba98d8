"""The Switchboard API (switchboard.dev/v1alpha1) as typed models; crds/ is generated from them."""

from __future__ import annotations

GROUP = "switchboard.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

"""Prompt templates (plain files next to this module), rendered with string.Template."""

from __future__ import annotations

from importlib import resources
from string import Template


def load(name: str) -> Template:
    """The template file `name` of this package."""
    return Template(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))

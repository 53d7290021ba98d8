"""JSON Schema export of AgentConfig; `python -m switchboard_contract.schema` rewrites the file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from switchboard_contract.config import AgentConfig

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "agent-config.schema.json"
SCHEMA_ID = "https://switchboard.dev/schemas/agent-config.schema.json"


def agent_config_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the rendered config, camelCase keys."""
    schema = AgentConfig.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(agent_config_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    """Write (default) or `--check` the committed schema file."""
    if "--check" in sys.argv[1:]:
        if SCHEMA_FILE.read_text() != render():
            sys.exit(f"{SCHEMA_FILE} is stale: run python -m switchboard_contract.schema")
        return
    SCHEMA_FILE.write_text(render())


if __name__ == "__main__":
    main()

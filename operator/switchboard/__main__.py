"""`python -m switchboard [kopf run options]`: run the operator (e.g. --standalone -A)."""

from __future__ import annotations

import sys

from kopf import cli

from switchboard import handlers
from switchboard.config import OperatorConfig


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    handlers.register(OperatorConfig.from_env())  # the one read of the environment
    cli.main(args=["run", *args], prog_name="switchboard-operator")


if __name__ == "__main__":
    main()

"""`python -m switchboard [kopf run options]`: run the operator (e.g. --standalone -A)."""

from __future__ import annotations

import sys

from kopf import cli


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    cli.main(args=["run", "-m", "switchboard.handlers", *args], prog_name="switchboard-operator")


if __name__ == "__main__":
    main()

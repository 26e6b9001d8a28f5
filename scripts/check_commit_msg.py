"""The commit-msg hook (.pre-commit-config.yaml): a subject of at most 72 characters, not
ending in a period, and a blank line before the body (the why and the figures go there)."""

from __future__ import annotations

import sys
from pathlib import Path

MAX_SUBJECT = 72


def problems(message: str) -> list[str]:
    lines = [line for line in message.splitlines() if not line.startswith("#")]
    if not lines or not lines[0].strip():
        return ["the subject (first line) is empty"]
    subject = lines[0]
    found = []
    if len(subject) > MAX_SUBJECT:
        found.append(
            f"the subject is {len(subject)} characters; keep it to {MAX_SUBJECT} and put the "
            "why and the figures in the body"
        )
    if subject.rstrip().endswith("."):
        found.append("the subject ends with a period")
    if len(lines) > 1 and lines[1].strip():
        found.append("the subject and the body need a blank line between them")
    return found


def main(argv: list[str]) -> int:
    found = problems(Path(argv[1]).read_text(encoding="utf-8", errors="replace"))
    for problem in found:
        print(f"commit message: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The README's timings table, from papermill's records in executed notebooks.

    python scripts/notebook_timings.py build/executed                       # one column
    python scripts/notebook_timings.py cold/ warm/ --labels "no weights" "saved weights"

Each folder holds notebooks executed by `make run` (papermill writes ``metadata.papermill.duration``,
the wall-clock seconds of the whole run, and the parameters, PROFILE among them).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_book import find_notebooks, format_seconds, run_profile, run_record  # noqa: E402


def timings(folder: Path) -> dict[str, tuple[float | None, str]]:
    """notebook stem -> (seconds or None, profile) for every executed notebook in ``folder``."""
    result = {}
    for path in find_notebooks(folder):
        nb = nbformat.read(path, as_version=4)
        seconds = run_record(nb).get("duration")
        result[path.stem] = (float(seconds) if seconds is not None else None, run_profile(nb))
    return result


def timings_table(folders: list[Path], labels: list[str]) -> str:
    """A markdown table: one row per notebook, one column per folder."""
    runs = [timings(folder) for folder in folders]
    stems = sorted(set().union(*runs))
    lines = ["| notebook | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for stem in stems:
        cells = []
        for run in runs:
            seconds, profile = run.get(stem, (None, ""))
            cells.append("–" if seconds is None else f"{format_seconds(seconds)} ({profile})")
        lines.append(f"| {stem} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders of executed notebooks")
    parser.add_argument("--labels", nargs="+", help="column titles (default: the folder names)")
    args = parser.parse_args(argv)
    labels = args.labels or [str(folder) for folder in args.folders]
    if len(labels) != len(args.folders):
        parser.error("give one label per folder")
    print(timings_table(args.folders, labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())

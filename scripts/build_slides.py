"""Reveal.js slides from the executed notebooks, by nbconvert's SlidesExporter.

    python scripts/build_slides.py                     # build/executed/NN_*.ipynb -> build/slides/
    python scripts/build_slides.py --executed DIR --out DIR

nbconvert turns cells into slides by their ``slideshow`` metadata; the notebooks carry none, so
this script assigns it from their structure (on a copy): the title and every ``## `` section start
a slide, ``### `` headings, exercises and every cell that draws a figure start a sub-slide (reveal's
down arrow), the rest follows on the same slide. Skipped: Otter's marker cells and tests, the
setup and parameters cells. Inputs stay visible: the code is part of the lesson. The pages load
reveal.js from nbconvert's default CDN, so presenting needs a network (or ``--reveal-prefix`` to a
local reveal.js copy).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter

NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


def slide_type(cell: nbformat.NotebookNode) -> str:
    """nbconvert's slide type of one cell: "slide", "subslide", "-" (same slide) or "skip"."""
    source = cell.source.lstrip()
    if cell.cell_type == "raw" or "BEGIN TEST CONFIG" in source or "parameters" in cell.metadata.get("tags", []):
        return "skip"
    if cell.cell_type == "markdown":
        if re.match(r"#{1,2} ", source):
            return "slide"
        return "subslide" if re.match(r"(### |\*\*Exercise)", source) else "-"
    if source.startswith("import sys") and "google.colab" in source:  # the setup cell
        return "skip"
    draws = any(o.get("data", {}).get("image/png") for o in cell.get("outputs", []))
    return "subslide" if draws else "-"


def as_slides(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with every cell's ``slideshow.slide_type`` set by :func:`slide_type`."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell)}
    return nb


def build_slides(executed_dir: Path | str, out_dir: Path | str, reveal_prefix: str | None = None) -> list[Path]:
    executed_dir, out_dir = Path(executed_dir), Path(out_dir)
    paths = sorted(executed_dir.glob(NOTEBOOK_GLOB))
    if not paths:
        raise FileNotFoundError(f"no executed notebooks {NOTEBOOK_GLOB} in {executed_dir} (run `make run` first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = SlidesExporter()
    if reveal_prefix:
        exporter.reveal_url_prefix = reveal_prefix
    written = []
    for path in paths:
        body, _ = exporter.from_notebook_node(as_slides(nbformat.read(path, as_version=4)))
        page = out_dir / f"{path.stem}.slides.html"
        page.write_text(body, encoding="utf-8")
        written.append(page)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executed", default="build/executed", help="folder of executed notebooks (make run)")
    parser.add_argument("--out", default="build/slides", help="folder for the slide decks")
    parser.add_argument("--reveal-prefix", default=None, help="where reveal.js lies (default: nbconvert's CDN)")
    args = parser.parse_args(argv)
    try:
        written = build_slides(args.executed, args.out, args.reveal_prefix)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for page in written:
        print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

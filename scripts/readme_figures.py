"""Copy the README's figures out of the executed notebooks into docs/figures/.

    python scripts/readme_figures.py                  # build/executed/ -> docs/figures/
    python scripts/readme_figures.py --executed DIR --out DIR

A figure is the first ``image/png`` output of a code cell, written as it is (no re-rendering).
A cell is chosen by a tag ``figure:<name>`` in its metadata (it becomes ``<name>.png``): every
tagged cell of every executed notebook is taken, so a new notebook only has to tag its cells.
Until the notebooks carry those tags, FIGURES below says which cell holds each figure by a piece
of its source; a tag always wins over that fallback. Missing notebooks and figures are reported
and skipped, so the script runs on a partial build/executed/.
"""

from __future__ import annotations

import argparse
import base64
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_book import display_path  # noqa: E402  (scripts/ is not a package)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
TAG_PREFIX = "figure:"


@dataclass(frozen=True)
class Figure:
    """A README figure: ``name``.png, from notebook ``notebook`` (file stem), found by the tag
    ``figure:<name>`` or, until the tag exists, by the first code cell with a PNG output whose
    source contains ``marker`` (None: by tag only)."""

    name: str
    notebook: str
    marker: str | None
    caption: str


FIGURES = (
    Figure("mnist_cams", "02_mnist_gap_network", "logits, cams = compute_cams(model, images)",
           "one test digit and the CAMs of all ten classes, on one colour scale (notebook 02)"),
    Figure("gap_vs_gmp_boxes", "03_gap_vs_gmp_localization", 'enumerate((("GAP", gap_pred), ("GMP", gmp_pred)))',
           "GAP (top) and GMP (bottom) CAMs on cluttered canvases: true box green, CAM box red (notebook 03)"),
    Figure("threshold_sweep", "03_gap_vs_gmp_localization", '"GAP": wsol.threshold_sweep(gap_pred)',
           "GT-known Loc, mean IoU and box size against the CAM threshold, GAP and GMP (notebook 03)"),
    Figure("object_size", "03_gap_vs_gmp_localization", None,
           "accuracy and localization metrics against object size, GAP, GMP and the centre prior, digits and "
           "garments (notebook 03)"),
    Figure("canvas64_floor", "03_gap_vs_gmp_localization", None,
           "MaxBoxAccV2 above the centre prior on growing and on fixed 64x64 canvases (notebook 03, section 9b)"),
    Figure("cam_vs_gradcam", "04_grad_cam_equivalence", "cams_predicted = class_activation_maps(maps, w, predicted)",
           "CAM (top) and Grad-CAM (bottom) of the predicted class: the same maps (notebook 04)"),
    # Tag only: offline, without ImageNet weights, notebook 05 draws the CAMs of untrained networks, which
    # belong in no README. Tag its photo-CAM cell (`fig, axes = plt.subplots(3, len(photos)`) and run
    # `make figures` where the weights can be had.
    Figure("vgg16_gap_photos", "05_vgg16_gap_imagenet", None,
           "top-1 CAMs of VGG16-GAP and ResNet-18 on photographs (notebook 05)"),
)


@dataclass(frozen=True)
class Found:
    name: str
    notebook: str
    cell: int
    how: str
    png: bytes


def first_png(cell: nbformat.NotebookNode) -> bytes | None:
    """The decoded first image/png output of a code cell, or None."""
    for output in cell.get("outputs", []):
        data = output.get("data", {}).get("image/png")
        if data:
            return base64.b64decode(data if isinstance(data, str) else "".join(data))
    return None


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def tagged_figures(notebooks: dict[str, nbformat.NotebookNode], notes: list[str]) -> dict[str, Found]:
    """Every code cell tagged ``figure:<name>``, over all notebooks; the first one wins a name."""
    found: dict[str, Found] = {}
    for stem, nb in notebooks.items():
        for index, cell in enumerate(nb.cells):
            for tag in cell.get("metadata", {}).get("tags", []):
                if not tag.startswith(TAG_PREFIX) or cell.cell_type != "code":
                    continue
                name = tag[len(TAG_PREFIX):]
                png = first_png(cell)
                if png is None:
                    notes.append(f"{stem} cell {index} is tagged {tag} but has no image/png output")
                elif name in found:
                    notes.append(f"{tag} appears again in {stem} cell {index}; kept {found[name].notebook} "
                                 f"cell {found[name].cell}")
                else:
                    found[name] = Found(name, stem, index, f"tag {tag}", png)
    return found


def marked_figure(figure: Figure, nb: nbformat.NotebookNode) -> Found | None:
    """The first code cell with a PNG output whose source contains ``figure.marker``."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and figure.marker and figure.marker in cell.source:
            png = first_png(cell)
            if png is not None:
                return Found(figure.name, figure.notebook, index, f"source {figure.marker!r}", png)
    return None


def extract_figures(executed_dir: Path | str, out_dir: Path | str, figures: tuple[Figure, ...] = FIGURES,
                    ) -> list[Path]:
    """Write ``out_dir/<name>.png`` for every tagged cell and every entry of ``figures`` that can
    be found in ``executed_dir/NN_*.ipynb``; print what was written and what was skipped.
    Returns the paths written, tagged figures and table entries in table order first."""
    executed_dir, out_dir = Path(executed_dir), Path(out_dir)
    notebooks = {path.stem: nbformat.read(path, as_version=4) for path in sorted(executed_dir.glob(NOTEBOOK_GLOB))}
    notes: list[str] = []
    found = tagged_figures(notebooks, notes)
    chosen: list[Found] = []
    for figure in figures:
        if figure.name in found:
            chosen.append(found.pop(figure.name))
        elif figure.notebook not in notebooks:
            notes.append(f"skipped {figure.name}: {figure.notebook}.ipynb is not in {executed_dir}")
        elif figure.marker is None:
            notes.append(f"skipped {figure.name}: no cell of {figure.notebook} is tagged {TAG_PREFIX}{figure.name}")
        else:
            hit = marked_figure(figure, notebooks[figure.notebook])
            if hit is None:
                notes.append(f"skipped {figure.name}: no code cell of {figure.notebook} with a PNG output "
                             f"contains {figure.marker!r}")
            else:
                chosen.append(hit)
    chosen.extend(found.values())  # tagged figures the table does not name

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for item in chosen:
        path = out_dir / f"{item.name}.png"
        path.write_bytes(item.png)
        width, height = png_size(item.png)
        print(f"wrote {display_path(path)}: {width}x{height}, {len(item.png) / 1024:.0f} KiB "
              f"<- {item.notebook} cell {item.cell} ({item.how})")
        written.append(path)
    for note in notes:
        print(f"note: {note}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", type=Path, default=ROOT / "build" / "executed",
                        help="folder of executed notebooks NN_*.ipynb (default: build/executed)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures",
                        help="where the PNGs go (default: docs/figures)")
    args = parser.parse_args(argv)
    if not any(args.executed.glob(NOTEBOOK_GLOB)):
        print(f"readme_figures: no executed notebooks in {args.executed} (run `make run` first)", file=sys.stderr)
        return 1
    extract_figures(args.executed, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

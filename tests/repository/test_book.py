"""scripts/build_book.py and scripts/readme_figures.py on tiny executed notebooks made here.

No notebook is executed: the fixture writes what papermill would leave behind (outputs, a
PNG made by matplotlib, papermill's run record, a saved widget state) with nbformat.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell
from scripts_loader import load_script

build_book_module = load_script("build_book")
readme_figures = load_script("readme_figures")


def png_bytes(color: str) -> bytes:
    figure, ax = plt.subplots(figsize=(1, 1), dpi=20)
    ax.imshow([[0, 1], [1, 0]], cmap="gray" if color == "gray" else "viridis")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def image_output(png: bytes) -> nbformat.NotebookNode:
    return new_output("display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"})


def papermill_record(duration: float, exception: bool = False) -> dict:
    return {"parameters": {"PROFILE": "quick"}, "duration": duration, "exception": exception,
            "start_time": "2026-01-02T03:04:05+00:00", "version": "2.7.0"}


@pytest.fixture
def executed(tmp_path: Path) -> dict:
    """Two executed notebooks: 01 with learning goals, a tagged figure and an untagged one;
    02 without learning goals, with a saved ipywidgets state."""
    folder = tmp_path / "executed"
    folder.mkdir()
    first, second, widget_png = png_bytes("viridis"), png_bytes("gray"), png_bytes("gray")

    alpha = new_notebook(cells=[
        new_markdown_cell("# 01 · Alpha maps\n\n[![Binder](https://example.org/b.svg)](https://example.org)\n\n"
                          "An opening paragraph.\n\n**Learning goals**\n\n- Goal one, with $M_c(x, y)$\n"
                          "- Goal two,\n  on two lines\n\nTime: a second."),
        new_raw_cell("# ASSIGNMENT CONFIG\nname: 01_alpha"),
        new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        new_raw_cell("# BEGIN QUESTION\nname: ex01_1"),
        new_code_cell("show_first()", metadata={"tags": ["figure:first"]}, outputs=[image_output(first)]),
        new_markdown_cell("## A section"),
        new_code_cell("plot_second()  # marker-second", outputs=[image_output(second)]),
    ])
    alpha.metadata["papermill"] = papermill_record(7.4)

    widget_state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_slider", "IPY_MODEL_row"]}},
        "slider": {"model_name": "IntSliderModel", "state": {"description": "image", "value": 3}},
        "row": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_img", "IPY_MODEL_text"]}},
        "img": {"model_name": "ImageModel", "state": {"format": "png"},
                "buffers": [{"path": ["value"], "encoding": "base64", "data": base64.b64encode(widget_png).decode()}]},
        "text": {"model_name": "HTMLModel", "state": {"description": "", "value": "<b>predicted:</b> 7"}},
    }
    beta = new_notebook(cells=[
        new_markdown_cell("# 02 · Beta\n\nBeta explains *widgets* in one paragraph.\n\nA second paragraph."),
        new_code_cell("explorer", execution_count=1, outputs=[new_output(
            "execute_result", execution_count=1,
            data={"application/vnd.jupyter.widget-view+json": {"model_id": "box", "version_major": 2,
                                                                "version_minor": 0},
                  "text/plain": "Explorer(...)"})]),
    ])
    beta.metadata["papermill"] = papermill_record(75.0)
    beta.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": widget_state,
                                                                              "version_major": 2,
                                                                              "version_minor": 0}}
    nbformat.write(alpha, folder / "01_alpha.ipynb")
    nbformat.write(beta, folder / "02_beta.ipynb")
    (folder / "notes.ipynb").write_text("not a numbered notebook")  # ignored
    return {"dir": folder, "first": first, "second": second, "widget_png": widget_png}


def b64(png: bytes) -> str:
    return base64.b64encode(png).decode()


def test_build_book_writes_an_index_that_links_every_page(executed, tmp_path):
    out = tmp_path / "book"
    written = build_book_module.build_book(executed["dir"], out, mathjax="none")
    assert [path.name for path in written] == ["index.html", "01_alpha.html", "02_beta.html"]
    assert all(path.is_file() for path in written)

    index = (out / "index.html").read_text()
    links = re.findall(r'href="([^"]+)"', index)
    assert links.count("01_alpha.html") >= 1 and links.count("02_beta.html") >= 1
    assert index.index("01 · Alpha maps") < index.index("02 · Beta")  # in order, with their titles
    assert "Learning goals" in index and "Goal one, with $M_c(x, y)$" in index and "on two lines" in index
    assert "An opening paragraph" not in index  # the goals replace the first paragraph...
    assert "Beta explains <em>widgets</em> in one paragraph." in index  # ...which is the fallback
    assert "A second paragraph" not in index
    assert "profile <strong>quick</strong>" in index
    assert "ran in 7.4 s" in index and "ran in 75 s" in index and "in 82 s altogether" in index
    assert "2 figures" in index


def test_pages_embed_their_figures_and_link_to_each_other(executed, tmp_path):
    out = tmp_path / "book"
    build_book_module.build_book(executed["dir"], out, mathjax="none")
    alpha = (out / "01_alpha.html").read_text()
    beta = (out / "02_beta.html").read_text()

    images = re.findall(r'<img[^>]+src="([^"]+)"', alpha)
    for png in (executed["first"], executed["second"]):
        assert f"data:image/png;base64,{b64(png)}" in images
    for src in images:  # any image that is not a data URI is a file next to the page, or a remote badge
        assert src.startswith(("data:", "https://")) or (out / src).is_file()

    assert '<title>01 · Alpha maps</title>' in alpha
    assert "BEGIN QUESTION" not in alpha and "ASSIGNMENT CONFIG" not in alpha  # Otter's markers dropped
    assert 'href="index.html"' in alpha and 'href="02_beta.html"' in alpha
    assert 'href="01_alpha.html"' in beta and 'href="index.html"' in beta
    assert "profile quick in 7.4 s on 2026-01-02" in alpha
    # offline: no script is loaded from the network (require.js dropped, no MathJax asked for)
    assert not re.search(r'<script[^>]+src="https?:', alpha + beta)


def test_widget_outputs_become_static_snapshots(executed, tmp_path):
    out = tmp_path / "book"
    build_book_module.build_book(executed["dir"], out, mathjax="none")
    beta = (out / "02_beta.html").read_text()
    assert "static snapshot" in beta
    assert f"data:image/png;base64,{b64(executed['widget_png'])}" in beta
    assert "<b>predicted:</b> 7" in beta and "image: 3" in beta
    assert "widget-state+json" not in beta and "widget-view+json" not in beta


def test_failed_runs_and_cdn_mathjax_are_said_so(executed, tmp_path):
    path = executed["dir"] / "02_beta.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"]["exception"] = True
    nb.cells[1].outputs.append(new_output("error", ename="AssertionError", evalue="accuracy too low", traceback=[]))
    nbformat.write(nb, path)
    out = tmp_path / "book"
    build_book_module.build_book(executed["dir"], out, mathjax="cdn")
    assert "failed: AssertionError: accuracy too low" in (out / "index.html").read_text()
    assert "The run failed" in (out / "02_beta.html").read_text()
    assert "MathJax from a CDN" in (out / "index.html").read_text()


def test_local_mathjax_is_copied_next_to_the_pages(executed, tmp_path):
    pytest.importorskip("jupyter_server_mathjax")
    out = tmp_path / "book"
    build_book_module.build_book(executed["dir"], out, mathjax="auto")
    assert (out / "mathjax" / "MathJax.js").is_file()
    assert '<script src="mathjax/MathJax.js?config=' in (out / "01_alpha.html").read_text()


def test_build_book_without_notebooks_says_what_to_run(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="make run"):
        build_book_module.build_book(tmp_path, tmp_path / "book")
    assert build_book_module.main(["--executed", str(tmp_path), "--out", str(tmp_path / "book")]) == 1


def test_extract_figures_takes_tagged_cells_then_source_markers(executed, tmp_path, capsys):
    figure = readme_figures.Figure
    table = (
        figure("first", "01_alpha", "no such source", "tagged: the tag wins over the marker"),
        figure("second", "01_alpha", "marker-second", "found by its source"),
        figure("absent", "01_alpha", "nowhere", "no such cell"),
        figure("later", "05_not_yet", "anything", "notebook missing"),
    )
    out = tmp_path / "figures"
    written = readme_figures.extract_figures(executed["dir"], out, figures=table)
    assert [path.name for path in written] == ["first.png", "second.png"]
    assert (out / "first.png").read_bytes() == executed["first"]
    assert (out / "second.png").read_bytes() == executed["second"]
    printed = capsys.readouterr().out
    assert "01_alpha cell 4 (tag figure:first)" in printed and "01_alpha cell 6 (source 'marker-second')" in printed
    assert "skipped absent" in printed and "skipped later: 05_not_yet.ipynb is not in" in printed


def test_extract_figures_keeps_tags_the_table_does_not_name(executed, tmp_path):
    written = readme_figures.extract_figures(executed["dir"], tmp_path / "figures", figures=())
    assert [path.name for path in written] == ["first.png"]
    assert readme_figures.png_size(written[0].read_bytes()) == (20, 20)


def test_readme_table_names_cells_that_exist_in_the_notebooks():
    """Each fallback marker of the default table is in its source notebook, once per notebook's code."""
    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    for entry in readme_figures.FIGURES:
        path = notebooks / f"{entry.notebook}.ipynb"
        if entry.marker is None or not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        hits = [cell for cell in nb.cells if cell.cell_type == "code" and entry.marker in cell.source]
        tagged = [cell for cell in nb.cells if f"figure:{entry.name}" in cell.get("metadata", {}).get("tags", [])]
        assert hits or tagged, f"{entry.name}: no cell of {path.name} contains {entry.marker!r} or has its tag"


def test_timings_table_has_a_row_per_notebook_and_a_column_per_run(executed, tmp_path):
    notebook_timings = load_script("notebook_timings")
    warm = tmp_path / "warm"
    warm.mkdir()
    nb = nbformat.read(executed["dir"] / "01_alpha.ipynb", as_version=4)
    nb.metadata["papermill"] = papermill_record(125.0)
    nbformat.write(nb, warm / "01_alpha.ipynb")
    table = notebook_timings.timings_table([executed["dir"], warm], ["cold", "warm"])
    assert table.splitlines() == [
        "| notebook | cold | warm |",
        "| --- | ---: | ---: |",
        "| 01_alpha | 7.4 s (quick) | 2 min 05 s (quick) |",
        "| 02_beta | 75 s (quick) | – |",
    ]


build_slides_module = load_script("build_slides")


def test_slides_start_at_sections_and_skip_otters_markers_and_tests(executed, tmp_path):
    (page,) = [p for p in build_slides_module.build_slides(executed["dir"], tmp_path / "slides")
               if p.name == "01_alpha.slides.html"]
    text = page.read_text()
    assert "reveal" in text and "<section" in text
    assert "BEGIN QUESTION" not in text and "ASSIGNMENT CONFIG" not in text
    kinds = [build_slides_module.slide_type(c) for c in nbformat.read(executed["dir"] / "01_alpha.ipynb", 4).cells]
    assert kinds[0] == "slide" and kinds.count("skip") >= 3  # the title; two markers and the parameters
    assert "subslide" in kinds  # the figure


def test_slides_without_executed_notebooks_say_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `make run` first"):
        build_slides_module.build_slides(tmp_path, tmp_path / "slides")


def test_a_described_figure_keeps_its_alt_text_and_caption_in_the_page(tmp_path, monkeypatch):
    import camlib.lab.viz

    shown = []
    monkeypatch.setattr(camlib.lab.viz, "_ipython_display", lambda: lambda data, metadata, raw: shown.append(
        new_output("display_data", data=data, metadata=metadata)))
    plt.subplots(figsize=(1, 1), dpi=20)
    camlib.lab.viz.show_figure("Two squares of grey, one light and one dark.")
    folder = tmp_path / "executed"
    folder.mkdir()
    notebook = new_notebook(cells=[new_markdown_cell("# 01 · Alt"), new_code_cell("draw()", outputs=shown)])
    notebook.metadata["papermill"] = papermill_record(1.0)
    nbformat.write(notebook, folder / "01_alt.ipynb")
    build_book_module.build_book(folder, tmp_path / "book", mathjax="none")
    page = (tmp_path / "book" / "01_alt.html").read_text()
    assert 'alt="Two squares of grey, one light and one dark."' in page
    assert "Figure: Two squares of grey, one light and one dark.</figcaption>" in page

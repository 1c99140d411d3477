"""Render the executed notebooks as a static HTML book that opens from disk, offline.

    python scripts/build_book.py                       # build/executed/NN_*.ipynb -> build/book/
    python scripts/build_book.py --executed DIR --out DIR --mathjax auto|cdn|none

Each ``NN_*.ipynb`` in the executed folder (``make run`` writes them with papermill) becomes
``NN_*.html`` through nbconvert's HTMLExporter and its "lab" template, with its figures inside
the page as data URIs, a bar of previous / contents / next links, and a line saying with which
profile papermill ran it and for how long. ``index.html`` lists the notebooks in order: title
(the first ``# `` heading), learning goals (the list under "Learning goals", else the first
paragraph), profile, run time, figure count and status.

Offline: pages load no script from the network. require.js (only needed by live widgets) is left
out; an ipywidgets output becomes a static snapshot of its saved state (images, HTML, control
values). Math is typeset by MathJax 2, copied next to the pages from the jupyter-server-mathjax
package when it is installed (``--mathjax auto``, the default); without it the pages point at
nbconvert's CDN MathJax, and offline the LaTeX stays as readable ``$...$`` source. The Colab and
Binder badges are remote images: offline they show their alt text.
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"  # a combined configuration that jupyter-server-mathjax ships
IMAGE_MIMETYPES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

GOALS_MARKER = re.compile(r"^\s*(#{1,6}\s*)?(\*\*|__)?learning goals:?(\*\*|__)?:?\s*$", re.IGNORECASE)
LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s+")
BADGE_LINE = re.compile(r"^\s*(\[!\[|!\[|<img|<a\s)")

CSS = """
.book-nav { display: flex; justify-content: space-between; gap: 1em; padding: 0.6em 0; margin: 0 0 0.5em 64px;
  border-bottom: 1px solid #ddd; font: 14px/1.4 system-ui, sans-serif; }
.book-nav.bottom { border-bottom: none; border-top: 1px solid #ddd; margin: 1.5em 0 0 64px; }
.book-nav a { text-decoration: none; color: #1a62b0; }
.book-nav span { flex: 1; }
.book-nav .next { text-align: right; }
.book-nav .home { text-align: center; }
.book-run { font: 13px/1.4 system-ui, sans-serif; color: #555; margin: 0 0 1em 64px; }
.book-run.failed { color: #b00020; font-weight: bold; }
.book-widget-note { font-style: italic; color: #555; margin: 0 0 0.5em 0; }
.book-widget-control { display: inline-block; margin: 0 1em 0.3em 0; font-family: monospace; }
"""

PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}
{%- if resources.mathjax_url -%}{{ super() }}{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{% block extra_css %}<style type="text/css">{{ resources.book_css }}</style>{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{{ resources.book_nav_top }}
{{ resources.book_run }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.book_nav_bottom }}
{{ super() }}
{% endblock body_footer %}
"""

INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{{ book_title }}</title>
{%- if mathjax_url %}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({tex2jax: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], processEscapes: true},
                   messageStyle: "none"});
</script>
<script src="{{ mathjax_url }}"></script>
{%- endif %}
<style>
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 58em; margin: 2em auto;
  padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
.lead { color: #555; margin-top: 0; }
ol.chapters { list-style: none; padding: 0; }
ol.chapters > li { border-top: 1px solid #ddd; padding: 1em 0; }
ol.chapters h2 { font-size: 1.25em; margin: 0 0 0.3em 0; }
ol.chapters h2 a { text-decoration: none; color: #1a62b0; }
.meta { font-size: 0.9em; color: #555; margin: 0.2em 0 0.5em 0; }
.meta .failed { color: #b00020; font-weight: bold; }
.goals { margin: 0; }
.goals ul, .goals ol { margin: 0.3em 0; }
footer { border-top: 1px solid #ddd; margin-top: 1em; padding-top: 0.6em; font-size: 0.85em; color: #666; }
code { font-size: 0.92em; background: #f4f4f4; padding: 0 0.2em; border-radius: 3px; }
</style>
</head>
<body>
<h1>{{ book_title }}</h1>
<p class="lead">{{ chapters | length }} notebooks, executed headless with papermill
{%- if total_seconds %} in {{ total_seconds }} altogether{% endif %}. Each page shows the notebook with its outputs
and figures as they came out of that run.</p>
<ol class="chapters">
{%- for chapter in chapters %}
<li id="{{ chapter.stem }}">
<h2><a href="{{ chapter.page }}">{{ chapter.title }}</a></h2>
<p class="meta">
{%- if chapter.failed %}<span class="failed">failed: {{ chapter.error }}</span> · {% endif -%}
profile <strong>{{ chapter.profile }}</strong> · ran in {{ chapter.duration_text }}
· {{ chapter.figures }} figure{{ "" if chapter.figures == 1 else "s" }}
{%- if chapter.run_date %} · executed {{ chapter.run_date }}{% endif %}</p>
<div class="goals">{% if chapter.goals_heading %}<strong>{{ chapter.goals_heading }}</strong>{% endif %}
{{ chapter.summary_html | safe }}</div>
</li>
{%- endfor %}
</ol>
<footer>Built {{ built }} by <code>scripts/build_book.py</code> from <code>{{ source }}</code>.
{{ mathjax_note }}</footer>
</body>
</html>
"""


@dataclass
class Chapter:
    """What the index and the navigation need to know about one executed notebook."""

    stem: str
    page: str
    title: str
    goals_heading: str
    summary_html: str
    profile: str
    duration: float | None
    figures: int
    failed: bool
    error: str
    run_date: str

    @property
    def duration_text(self) -> str:
        return format_seconds(self.duration) if self.duration is not None else "— (no papermill record)"


def format_seconds(seconds: float) -> str:
    """'1.5 s', '73 s', '2 min 05 s'."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def find_notebooks(executed_dir: Path) -> list[Path]:
    """The executed notebooks ``NN_*.ipynb`` in name order."""
    return sorted(Path(executed_dir).glob(NOTEBOOK_GLOB))


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The text of the first ``# `` heading in a markdown cell, else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return fallback


def _list_block(lines: list[str], start: int) -> list[str]:
    """The markdown list that begins at or after ``lines[start]`` (blank lines skipped first),
    with its continuation lines and the blank lines between its items."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not LIST_ITEM.match(lines[i]):
        return []
    block: list[str] = []
    while i < len(lines):
        line = lines[i]
        if LIST_ITEM.match(line) or (line.strip() and line[:1] in (" ", "\t")):
            block.append(line)
        elif not line.strip():
            following = next((lines[j] for j in range(i + 1, len(lines)) if lines[j].strip()), "")
            if not (LIST_ITEM.match(following) or following[:1] in (" ", "\t")):
                break
            block.append(line)
        else:
            break
        i += 1
    return block


def _first_paragraph(nb: nbformat.NotebookNode) -> str:
    """The first paragraph of prose: not a heading, not a line of badges."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        paragraph: list[str] = []
        for line in cell.source.splitlines() + [""]:
            if not line.strip() or line.lstrip().startswith("#") or BADGE_LINE.match(line):
                if paragraph:
                    return "\n".join(paragraph)
                continue
            paragraph.append(line)
    return ""


def learning_goals(nb: nbformat.NotebookNode) -> tuple[str, str]:
    """(heading, markdown): the list under a "Learning goals" line (``**Learning goals**``,
    ``## Learning goals``...) when a markdown cell has one, else ("", the first paragraph)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if GOALS_MARKER.match(line):
                block = _list_block(lines, i + 1)
                if block:
                    return "Learning goals", "\n".join(block)
    return "", _first_paragraph(nb)


def run_record(nb: nbformat.NotebookNode) -> dict:
    """papermill's notebook-level record (``metadata.papermill``), or {} when it has none."""
    return dict(nb.metadata.get("papermill") or {})


def run_profile(nb: nbformat.NotebookNode) -> str:
    """The PROFILE papermill passed; else the ``profile: NAME`` that the notebooks print; else 'default'."""
    profile = (run_record(nb).get("parameters") or {}).get("PROFILE")
    if profile:
        return str(profile)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                match = re.search(r"\bprofile: (\w+)", output.get("text", ""))
                if match:
                    return match.group(1)
    return "default"


def count_figures(nb: nbformat.NotebookNode) -> int:
    """Image outputs (PNG, JPEG, SVG, GIF) over all code cells."""
    return sum(
        any(mimetype in output.get("data", {}) for mimetype in IMAGE_MIMETYPES)
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


def failure(nb: nbformat.NotebookNode) -> str:
    """'' when papermill recorded no exception, else the first error it saw."""
    if not run_record(nb).get("exception"):
        return ""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"[:200]
    return "papermill recorded an exception"


# ---------------------------------------------------------------- widgets as static snapshots


def _widget_html(state: dict, model_id: str, depth: int = 0) -> str:
    """HTML for one saved ipywidgets model and its children: boxes as flex rows/columns,
    Image as a data URI, HTML as itself, controls as 'description: value'."""
    entry = state.get(model_id)
    if entry is None or depth > 30:
        return ""
    name = entry.get("model_name", "")
    values = entry.get("state", {})
    children = [str(child).removeprefix("IPY_MODEL_") for child in values.get("children", [])]
    if children:
        direction = "column" if name == "VBoxModel" else "row"
        inner = "".join(_widget_html(state, child, depth + 1) for child in children)
        return f'<div style="display:flex;flex-direction:{direction};gap:0.6em;align-items:flex-start">{inner}</div>'
    if name == "ImageModel":
        for buffer in entry.get("buffers", []):
            if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                image_format = values.get("format", "png")
                image_format = "svg+xml" if image_format == "svg" else image_format
                return f'<img src="data:image/{image_format};base64,{buffer["data"]}" alt="widget image">'
        return ""
    description = html.escape(str(values.get("description") or ""))
    if name in ("HTMLModel", "HTMLMathModel"):
        return f"<div>{description + ' ' if description else ''}{values.get('value', '')}</div>"
    if name == "LabelModel":
        return f"<div>{html.escape(str(values.get('value', '')))}</div>"
    if "_options_labels" in values:
        index = values.get("index")
        labels = values["_options_labels"]
        value = labels[index] if isinstance(index, int) and 0 <= index < len(labels) else ""
        return f'<span class="book-widget-control">{description}: {html.escape(str(value))}</span>'
    if "value" in values and not isinstance(values["value"], dict | list):
        return f'<span class="book-widget-control">{description}: {html.escape(str(values["value"]))}</span>'
    return ""


def freeze_widgets(nb: nbformat.NotebookNode) -> int:
    """Replace each widget output by a static HTML snapshot of its saved state, and drop the
    notebook's widget state so that the page loads no widget JavaScript. Returns how many."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    frozen = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            model_id = data[WIDGET_VIEW].get("model_id", "")
            snapshot = _widget_html(state, model_id)
            note = "Interactive widget: a static snapshot of its first state. Run the notebook in JupyterLab to use it."
            if not snapshot:
                note = "Interactive widget: run the notebook in JupyterLab to use it."
            plain = data.get("text/plain", "")
            output["data"] = {
                "text/html": f'<div class="book-widget"><p class="book-widget-note">{note}</p>{snapshot}</div>',
                "text/plain": plain,
            }
            frozen += 1
    nb.metadata.pop("widgets", None)
    return frozen


# ---------------------------------------------------------------- MathJax


def drop_otter_markers(nb: nbformat.NotebookNode) -> int:
    """Remove Otter Assign's raw marker cells (``# BEGIN QUESTION``, ``# ASSIGNMENT CONFIG``, ...): they
    structure the master for the student build and mean nothing to a reader. Returns how many."""
    marker = re.compile(r"#\s*(BEGIN|END|ASSIGNMENT CONFIG)\b")
    kept = [c for c in nb.cells if not (c.cell_type == "raw" and marker.match(c.source))]
    dropped = len(nb.cells) - len(kept)
    nb.cells = kept
    return dropped


def mathjax_url(mode: str, out_dir: Path) -> tuple[str, str]:
    """(url for the pages, a sentence for the index footer). ``auto``: a local copy of MathJax 2
    from jupyter-server-mathjax when installed, else the CDN; ``cdn``: nbconvert's CDN URL;
    ``none``: no MathJax (LaTeX shown as source)."""
    if mode == "none":
        return "", "Math is shown as LaTeX source (built with --mathjax none)."
    if mode == "auto":
        try:
            import jupyter_server_mathjax
        except ImportError:
            mode = "cdn"
        else:
            static = Path(jupyter_server_mathjax.__file__).parent / "static"
            target = out_dir / "mathjax"
            if not (target / "MathJax.js").exists():
                def other_languages(folder: str, names: list[str]) -> list[str]:
                    return [name for name in names if Path(folder).name == "localization" and name != "en"]

                shutil.copytree(static, target, dirs_exist_ok=True, ignore=other_languages)
            return f"mathjax/MathJax.js?config={MATHJAX_CONFIG}", "Math is typeset by a local copy of MathJax 2."
    if mode == "cdn":
        return HTMLExporter().mathjax_url, (
            "Math is typeset by MathJax from a CDN; offline it stays as LaTeX source "
            "(install jupyter-server-mathjax and rebuild for a local copy)."
        )
    raise ValueError(f"mathjax must be 'auto', 'cdn' or 'none', not {mode!r}")


# ---------------------------------------------------------------- pages and index


def _nav(chapters: list[Chapter], position: int, where: str) -> str:
    previous = chapters[position - 1] if position > 0 else None
    following = chapters[position + 1] if position + 1 < len(chapters) else None

    def link(chapter: Chapter | None, text: str) -> str:
        return f'<a href="{chapter.page}">{html.escape(text)}</a>' if chapter else ""

    return (
        f'<nav class="book-nav {where}">'
        f'<span class="prev">{link(previous, "← " + previous.title if previous else "")}</span>'
        f'<span class="home"><a href="index.html">Contents</a></span>'
        f'<span class="next">{link(following, following.title + " →" if following else "")}</span>'
        "</nav>"
    )


def _run_line(chapter: Chapter) -> str:
    if chapter.duration is None:
        text = "Not executed by papermill: outputs as saved in the notebook."
    else:
        text = f"Executed headless by papermill with profile {chapter.profile} in {chapter.duration_text}"
        text += f" on {chapter.run_date}." if chapter.run_date else "."
    if chapter.failed:
        return f'<p class="book-run failed">{html.escape(text)} The run failed: {html.escape(chapter.error)}</p>'
    return f'<p class="book-run">{html.escape(text)}</p>'


def _chapter(path: Path, nb: nbformat.NotebookNode) -> Chapter:
    record = run_record(nb)
    goals_heading, summary = learning_goals(nb)
    error = failure(nb)
    started = record.get("start_time") or ""
    return Chapter(
        stem=path.stem,
        page=path.stem + ".html",
        title=notebook_title(nb, path.stem),
        goals_heading=goals_heading,
        summary_html=markdown2html(summary) if summary else "",
        profile=run_profile(nb),
        duration=float(record["duration"]) if record.get("duration") is not None else None,
        figures=count_figures(nb),
        failed=bool(error),
        error=error,
        run_date=str(started)[:10],
    )


def page_exporter(mathjax: str) -> HTMLExporter:
    """nbconvert's HTMLExporter with the lab template, extended by PAGE_TEMPLATE."""
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"book_page.html.j2": PAGE_TEMPLATE})],
        template_file="book_page.html.j2",
        embed_images=True,  # images that markdown cells reference by path become data URIs too
    )
    exporter.mathjax_url = mathjax
    return exporter


def build_book(executed_dir: Path | str, out_dir: Path | str, *, mathjax: str = "auto") -> list[Path]:
    """Write ``out_dir/NN_*.html`` for every ``executed_dir/NN_*.ipynb`` and ``out_dir/index.html``.
    Returns the paths written: the index first, then the pages in order."""
    executed_dir, out_dir = Path(executed_dir), Path(out_dir)
    paths = find_notebooks(executed_dir)
    if not paths:
        raise FileNotFoundError(f"no executed notebooks {NOTEBOOK_GLOB} in {executed_dir} (run `make run` first)")
    out_dir.mkdir(parents=True, exist_ok=True)
    url, mathjax_note = mathjax_url(mathjax, out_dir)

    notebooks = [nbformat.read(path, as_version=4) for path in paths]
    chapters = [_chapter(path, nb) for path, nb in zip(paths, notebooks, strict=True)]
    exporter = page_exporter(url)
    written = []
    for position, (chapter, nb) in enumerate(zip(chapters, notebooks, strict=True)):
        nb = copy.deepcopy(nb)
        freeze_widgets(nb)
        drop_otter_markers(nb)
        nb.metadata["title"] = chapter.title
        resources = {
            "metadata": {"name": chapter.stem},
            "book_css": CSS,
            "book_nav_top": _nav(chapters, position, "top"),
            "book_nav_bottom": _nav(chapters, position, "bottom"),
            "book_run": _run_line(chapter),
        }
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        page = out_dir / chapter.page
        page.write_text(body, encoding="utf-8")
        written.append(page)

    durations = [chapter.duration for chapter in chapters if chapter.duration is not None]
    index_html = (
        jinja2.Environment(autoescape=True)
        .from_string(INDEX_TEMPLATE)
        .render(
            book_title="CAM Lab: the notebooks, executed",
            chapters=chapters,
            total_seconds=format_seconds(sum(durations)) if durations else "",
            mathjax_url=url,
            mathjax_note=mathjax_note,
            built=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            source=display_path(executed_dir),
        )
    )
    index = out_dir / "index.html"
    index.write_text(index_html, encoding="utf-8")
    return [index, *written]


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", type=Path, default=ROOT / "build" / "executed",
                        help="folder of executed notebooks NN_*.ipynb (default: build/executed)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "book", help="output folder (default: build/book)")
    parser.add_argument("--mathjax", choices=("auto", "cdn", "none"), default="auto",
                        help="auto: local MathJax from jupyter-server-mathjax if installed, else cdn (default: auto)")
    args = parser.parse_args(argv)
    try:
        written = build_book(args.executed, args.out, mathjax=args.mathjax)
    except FileNotFoundError as error:
        print(f"build_book: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {display_path(path)} ({path.stat().st_size / 1024:.0f} KiB)")
    print(f"open {display_path(written[0])} in a browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Point the Colab and Binder badges and the Colab install lines of README.md, notebooks/ and students/
at the repository URL of pyproject.toml ([project.urls] Repository): ``python scripts/sync_badges.py``
rewrites them, ``--check`` lists the files that disagree. A repository tool: students never import it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from camlib.config import project_root
from camlib.lab.launch import BRANCH, FOLDERS, owner_and_name, repository_url

# The four places a URL appears, each with the part that must follow the repository URL.
_LINKS = [
    (re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.-]+/"),
     lambda repo: f"https://colab.research.google.com/github/{repo}/blob/{BRANCH}/"),
    (re.compile(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w.-]+(?=\?|\)|\s|$)"),
     lambda repo: f"https://mybinder.org/v2/gh/{repo}/{BRANCH}"),
    (re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+?(?=[\"'@\s]|$)"),
     lambda repo: f"git+https://github.com/{repo}"),
    (re.compile(r"(?<!\+)https://github\.com/[\w.-]+/[\w.-]+/blob/[\w.-]+/"),  # docs/troubleshooting.md
     lambda repo: f"https://github.com/{repo}/blob/{BRANCH}/"),
]


def with_repository(text: str, url: str | None = None) -> str:
    """``text`` with every Colab, Binder and ``pip install git+`` link pointing at ``url``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string (a README or a notebook's JSON), got {type(text).__name__}")
    repo = owner_and_name(url or repository_url())
    for pattern, replacement in _LINKS:
        text = pattern.sub(replacement(repo), text)
    return text


def sync_links(root: str | Path, *, write: bool) -> list[Path]:
    """The files under ``root`` (README.md, notebooks/ and students/NN_*.ipynb) whose links disagree with
    the repository URL; rewritten in place when ``write``."""
    root = Path(root)
    stale = []
    notebooks = [path for folder in FOLDERS for path in sorted((root / folder).glob("[0-9][0-9]_*.ipynb"))]
    for path in [root / "README.md", *notebooks]:
        text = path.read_text()
        fixed = with_repository(text)
        if fixed != text:
            stale.append(path)
            if write:
                path.write_text(fixed)
    return stale



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/sync_badges.py",
        description="Point the Colab/Binder badges and Colab install lines in README.md and notebooks/ "
        "at the repository URL of pyproject.toml ([project.urls] Repository).",
    )
    parser.add_argument("--check", action="store_true", help="only list the files that disagree; exit 1 if any")
    args = parser.parse_args(argv)
    root = project_root() or Path.cwd()
    stale = sync_links(root, write=not args.check)
    for path in stale:
        print(f"{'out of date' if args.check else 'rewrote'}: {path.relative_to(root)}")
    print(f"repository: {repository_url()}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

"""Weakly supervised localization benchmark: GAPNet with GAP against GMP, every metric, over seeds.

The experiment of notebook 03 (``camlib.wsol``) as a command. It prints a markdown table of
mean ± std over seeds and writes ``localization_<profile>.md`` and ``localization_<profile>.json``
(seeds, settings, per-run rows, summary, times) into ``--out``.

    python benchmarks/localization.py --profile quick
    python benchmarks/localization.py --profile full --seeds 0 1 2 3 4 --variants
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from camlib import config, wsol


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=config.PROFILES, default=None,
                        help="quick (laptop, minutes) or full; default: $CAMLIB_PROFILE, else by hardware")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds to train (default: 0 1 2 quick, 0..4 full)")
    parser.add_argument("--variants", action="store_true",
                        help="also run the notebook's variants (no clutter, stride 8) for the first seed")
    parser.add_argument("--retrain", action="store_true", help="train even when matching checkpoints exist")
    parser.add_argument("--no-checkpoints", action="store_true", help="neither read nor write checkpoints")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="folder for the .md and .json results (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    profile = config.get_profile(args.profile)
    settings = wsol.settings_for(profile)
    seeds = args.seeds if args.seeds is not None else list(range(profile.pick(quick=3, full=5)))
    variants = wsol.VARIANTS if args.variants else {"base": {}}
    device = config.get_device()
    print(f"profile {profile.name}, device {device}, seeds {seeds}, torch threads {torch.get_num_threads()}")
    print("settings:", settings.describe())

    start = time.perf_counter()
    rows = wsol.run_experiment(settings, seeds=seeds, variants=variants, variant_seeds=seeds[:1],
                               checkpoint=not args.no_checkpoints, retrain=args.retrain, device=device)
    seconds = time.perf_counter() - start
    summary = wsol.summarize(rows)
    by = ("variant", "pool") if args.variants else ("pool",)
    table = wsol.markdown_table(summary, by=by)
    paper = wsol.paper_table(summary)
    words = "\n".join(f"- {sentence}" for sentence in wsol.conclusions(summary))
    trained = sum(not row["loaded"] for row in rows)
    timing = (f"{len(rows)} networks ({trained} trained, {len(rows) - trained} loaded from checkpoints) "
              f"in {seconds:.0f} s on {device} ({platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads)")
    report = (
        f"# Weakly supervised localization: GAP vs GMP ({profile.name} profile)\n\n"
        f"Settings: {settings.describe()}. Seeds: {', '.join(map(str, seeds))}.\n\n"
        f"{table}\n\nThe paper's Table 2 (localization error, %) beside ours:\n\n{paper}\n\n"
        f"What the numbers say:\n\n{words}\n\n{timing}.\n"
    )
    print()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    markdown = args.out / f"localization_{profile.name}.md"
    markdown.write_text(report)
    json_path = wsol.save_results(args.out / f"localization_{profile.name}.json", {
        "profile": profile.name,
        "seeds": seeds,
        "settings": settings.as_dict(),
        "variants": {name: dict(changes) for name, changes in variants.items()},
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "seconds": seconds,
        "rows": rows,
        "summary": summary,
        "paper_table2_error_percent": wsol.PAPER_TABLE2,
        "conclusions": wsol.conclusions(summary),
    })
    print(f"wrote {markdown} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

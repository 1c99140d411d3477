"""Weakly supervised localization benchmark: GAP against GMP across object sizes and types.

The experiment of notebook 03 (``camlib.lab.wsol``) as a command: for MNIST digits and
Fashion-MNIST garments at three object sizes (``wsol.OBJECT_SIZES``), each on a canvas that grows
with it (``wsol.SIZE_CANVASES``: 64, 80 and 96 pixels, clutter at the same density), and for small
digits without clutter, it trains GAPNet with GAP and with GMP for every seed (GAP with
``gap_epochs``, so that both reach about the same accuracy), evaluates every metric of
``wsol.localization_metrics`` (MaxBoxAccV2 by Choe et al.'s protocol) and prints mean ± std over
seeds, each box, pointing and mask metric beside its floors: the centre prior of ``camlib.metrics.floors``,
fitted on the training canvases' boxes, which never sees the image (``wsol.centre_prior_rows``), and the
image itself used as the map, which sees no network (``wsol.image_floor_rows``).

    python benchmarks/localization.py --profile quick --json localization.json
    python benchmarks/localization.py --profile full --seeds 0 1 2 3 4
    python benchmarks/localization.py --fixed-canvas ...   # every size on 64x64, the earlier axis
    python benchmarks/localization.py --floors-into FILE    # add the floors to an existing results file

Time: the quick profile trains 42 networks; about 16 minutes on 2 CPU cores the first time
(checkpoints make a rerun take about 3 minutes of evaluation).

The JSON holds one row per network (object type, size, canvas, mean object area as a fraction of
the canvas, pool, seed, epochs, classification accuracy and each metric), one row per centre prior
(``floors``: variant, seed, sigma, box, point and its metrics), one row per image floor
(``image_floors``), the summaries over seeds, the
settings and the times. ``--json camlib/results/localization_quick.json`` refreshes the
copy that notebook 03 and ``scripts/readme_figures.py`` read.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

from camlib import config
from camlib.lab import wsol
from camlib.metrics.floors import FLOOR_METRICS, IMAGE_FLOOR_METRICS

TABLE_METRICS = ("accuracy", "maxboxacc_v2", "gt_known_loc", "top1_loc", "pointing", "pxap", "coverage", "precision",
                 "box_area_ratio", "maxboxacc_v2_max_rule", "maxboxacc_v2_wsolevaluation")
FLOORED = ("pxap", "maxboxacc_v2", "gt_known_loc", "pointing")  # the metrics both floors answer


def size_table(summary: list[dict], metric: str, floors: list[dict] | None = None,
               images: list[dict] | None = None) -> str:
    """One row per variant: canvas, mean object area and ``metric`` for GAP and GMP, mean ± std; for the
    metrics a centre prior answers (``camlib.metrics.floors``), the prior's value and GAP's margin over it;
    for the metrics the image answers, the image itself as a map (``images``) too."""
    floors = {e["variant"]: e for e in floors or []}
    images = {e["variant"]: e for e in images or []}
    with_floor = bool(floors) and metric in (*FLOOR_METRICS, "pxap") and all(metric in e for e in floors.values())
    with_image = bool(images) and metric in IMAGE_FLOOR_METRICS
    head = f"| objects | canvas | object area (% of canvas) | GAP {metric} | GMP {metric} | GAP − GMP |"
    lines = [head + (" centre prior | GAP − prior |" if with_floor else "") + (" image | image − GAP |" if with_image
                                                                                   else ""),
             "|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if with_floor else "") + ("---:|---:|" if with_image
                                                                                         else "")]
    variants = list(dict.fromkeys(entry["variant"] for entry in summary))
    for variant in variants:
        gap, gmp = (next(e for e in summary if (e["variant"], e["pool"]) == (variant, pool)) for pool in ("gap", "gmp"))
        scale, digits = (1, 2) if metric == "box_area_ratio" else (100, 1)  # a ratio, not a percentage
        cells = [f"{scale * e[metric]['mean']:.{digits}f} ± {scale * e[metric]['std']:.{digits}f}" for e in (gap, gmp)]
        diff = scale * (gap[metric]["mean"] - gmp[metric]["mean"])
        line = (f"| {variant} | {gap.get('canvas', {}).get('mean', 64):.0f} | {100 * gap['object_area']['mean']:.1f} "
                f"| {cells[0]} | {cells[1]} | {diff:+.{digits}f} |")
        if with_floor:
            prior = floors[variant][metric]
            line += (f" {100 * prior['mean']:.1f} ± {100 * prior['std']:.1f} "
                     f"| {100 * (gap[metric]['mean'] - prior['mean']):+.1f} |")
        if with_image:
            image = images[variant][metric]
            line += (f" {100 * image['mean']:.1f} ± {100 * image['std']:.1f} "
                     f"| {100 * (image['mean'] - gap[metric]['mean']):+.1f} |")
        lines.append(line)
    return "\n".join(lines)


def accuracy_gaps(summary: list[dict]) -> dict[str, float]:
    """GAP's mean accuracy minus GMP's, per variant: how fair each comparison is."""
    means = {(e["variant"], e["pool"]): e["accuracy"]["mean"] for e in summary}
    return {variant: means[(variant, "gap")] - means[(variant, "gmp")]
            for variant, pool in means if pool == "gap" and (variant, "gmp") in means}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=config.PROFILES, default=None,
                        help="quick (laptop, minutes) or full; default: $CAMLIB_PROFILE, else by hardware")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds to train (default: 0 1 2 quick, 0..4 full)")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"], choices=sorted(wsol.OBJECT_SIZES),
                        help="object types (default: both)")
    parser.add_argument("--no-clutter-variant", action="store_true", help="skip small digits without clutter")
    parser.add_argument("--retrain", action="store_true", help="train even when matching checkpoints exist")
    parser.add_argument("--no-checkpoints", action="store_true", help="neither read nor write checkpoints")
    parser.add_argument("--json", type=Path, default=None,
                        help="write every row, the summary and the settings to this JSON file "
                             "(default: <out>/localization_<profile>.json)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="folder for the markdown report (default: benchmarks/results/)")
    parser.add_argument("--fixed-canvas", action="store_true",
                        help="every size on the base 64x64 canvas (the earlier benchmark), not SIZE_CANVASES")
    parser.add_argument("--floors-into", type=Path, default=None, metavar="JSON",
                        help="train nothing: add the centre prior's rows to an existing results file and exit")
    args = parser.parse_args(argv)
    if args.floors_into is not None:
        return add_floors(args.floors_into)

    profile = config.get_profile(args.profile)
    settings = wsol.settings_for(profile)
    seeds = args.seeds if args.seeds is not None else list(range(profile.pick(quick=3, full=5)))
    variants = wsol.size_variants(args.datasets, clutter_variant=not args.no_clutter_variant,
                                  grow_canvas=not args.fixed_canvas)
    device = config.get_device()
    print(f"profile {profile.name}, device {device}, seeds {seeds}, torch threads {torch.get_num_threads()}")
    print("settings:", settings.describe())
    print("variants:", ", ".join(variants))

    start = time.perf_counter()
    rows = wsol.run_experiment(settings, seeds=seeds, variants=variants, checkpoint=not args.no_checkpoints,
                               retrain=args.retrain, device=device)
    seconds = time.perf_counter() - start
    metrics = [key for key, _, _ in wsol.METRICS] + ["object_area", "canvas"]
    summary = wsol.summarize(rows, metrics=metrics)
    floor_rows = wsol.centre_prior_rows(settings, variants, seeds)
    floor_summary = wsol.summarize_priors(floor_rows)
    image_rows = wsol.image_floor_rows(settings, variants, seeds)
    image_summary = wsol.summarize_images(image_rows)
    trained = sum(not row["loaded"] for row in rows)
    timing = (f"{len(rows)} networks ({trained} trained, {len(rows) - trained} loaded from checkpoints) "
              f"in {seconds:.0f} s on {device} ({platform.processor() or platform.machine()}, "
              f"{torch.get_num_threads()} threads)")
    sections = [f"## {metric}\n\n{size_table(summary, metric, floor_summary, image_summary)}"
                for metric in TABLE_METRICS]
    report = (
        f"# Weakly supervised localization: GAP vs GMP across object sizes ({profile.name} profile)\n\n"
        f"Settings: {settings.describe()}. Seeds: {', '.join(map(str, seeds))}. Mean ± std over seeds, in % "
        "(the box area ratio as a ratio).\n\n"
        + "\n\n".join(sections)
        + f"\n\nThe paper's Table 2 (localization error, %) beside ours (small digits):\n\n"
        f"{wsol.paper_table(summary, variant='mnist small')}\n\n{timing}.\n"
    )
    print()
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    markdown = args.out / f"localization_{profile.name}.md"
    markdown.write_text(report)
    json_path = wsol.save_results(args.json or args.out / f"localization_{profile.name}.json", {
        "profile": profile.name,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
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
        "floors": floor_rows,
        "floor_summary": floor_summary,
        "image_floors": image_rows,
        "image_floor_summary": image_summary,
        "accuracy_gap_gap_minus_gmp": accuracy_gaps(summary),
        "paper_table2_error_percent": wsol.PAPER_TABLE2,
    })
    print(f"wrote {markdown} and {json_path}")
    return 0


def add_floors(path: Path) -> int:
    """The centre prior and the image floor of every (variant, seed) of the results file at ``path``, written
    into it (``floors``, ``floor_summary``, ``image_floors``, ``image_floor_summary``); rows without a canvas
    get the settings' canvas."""
    results = wsol.load_results(path)
    settings = wsol.WSOLSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in results["settings"].items()})
    for row in results["rows"]:
        row.setdefault("canvas", settings.replace(**results["variants"].get(row["variant"], {})).canvas)
    metrics = [key for key, _, _ in wsol.METRICS if all(key in row for row in results["rows"])]
    results["summary"] = wsol.summarize(results["rows"], metrics=metrics + ["object_area", "canvas"])
    results["floors"] = wsol.centre_prior_rows(settings, results["variants"], results["seeds"])
    results["floor_summary"] = wsol.summarize_priors(results["floors"])
    results["image_floors"] = wsol.image_floor_rows(settings, results["variants"], results["seeds"])
    results["image_floor_summary"] = wsol.summarize_images(results["image_floors"])
    for metric in FLOORED:
        if all(metric in row for row in results["rows"]):  # files before PxAP lack it
            table = size_table(results["summary"], metric, results["floor_summary"], results["image_floor_summary"])
            print(f"## {metric}\n\n{table}\n")
    print(f"wrote {wsol.save_results(path, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

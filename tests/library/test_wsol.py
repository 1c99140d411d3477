"""camlib.lab.wsol: the GAP-vs-GMP localization experiment, on tiny settings and hand-built models."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from camlib.data import CanvasDigits, DigitDataset
from camlib.lab import wsol

TINY = wsol.WSOLSettings(train_size=64, test_size=40, canvas=32, scale=(0.75, 1.0), clutter=1,
                         widths=(4, 8), downsample=1, epochs=1, gap_epochs=None, batch_size=32, cam_step=0.1)


def _digits(n: int = 30, seed: int = 0) -> DigitDataset:
    """Synthetic 28x28 'digits': a bright rectangle whose position depends on the class."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        top = 2 + int(torch.randint(0, 6, (1,), generator=g))
        images[i, top : top + 14 + label % 4, 6 + label % 5 : 20] = 200
    return DigitDataset(images, labels, [str(k) for k in range(10)], "synthetic rectangles")


@pytest.fixture(scope="module")
def canvases() -> CanvasDigits:
    return CanvasDigits(_digits(), 24, canvas=40, scale=(0.75, 1.0), clutter=1, seed=3)


class MaskModel(nn.Module):
    """A stub 'network' whose CAM of every class is known: ``forward_with_maps`` returns the
    image itself (one channel, the object's pixels plus clutter) and logits that favour
    ``favourite``; ``classifier`` maps that channel to class c with weight ``weights[c]``."""

    stride = 1

    def __init__(self, weights: torch.Tensor, favourite: torch.Tensor, runner_up: torch.Tensor | None = None):
        super().__init__()
        self.runner_up = runner_up  # [N] the class with the second highest logit, if given
        self.classifier = nn.Linear(1, len(weights), bias=False)
        with torch.no_grad():
            self.classifier.weight.copy_(weights[:, None])
        self.favourite = favourite  # [N] the class each image gets the highest logit for
        self.seen = 0

    def forward_with_maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = images.shape[0]
        index = torch.arange(self.seen, self.seen + n)
        self.seen += n
        logits = -torch.arange(self.classifier.out_features, dtype=torch.float32).repeat(n, 1)
        if self.runner_up is not None:
            logits[torch.arange(n), self.runner_up[index]] = 50.0
        logits[torch.arange(n), self.favourite[index]] = 100.0
        return logits, images


class ObjectMaskModel(MaskModel):
    """Maps equal to the object masks themselves (clutter removed), of the dataset given."""

    def __init__(self, dataset: CanvasDigits, favourite: torch.Tensor):
        super().__init__(torch.ones(10), favourite)
        self.dataset = dataset

    def forward_with_maps(self, images):
        start = self.seen
        logits, _ = super().forward_with_maps(images)
        return logits, self.dataset.masks[start : start + images.shape[0], None].float()


def test_settings_profiles_and_validation():
    quick, full = wsol.settings_for("quick"), wsol.settings_for("full")
    assert quick.stride == 2 ** quick.downsample and full.train_size > quick.train_size
    assert wsol.settings_for("quick", clutter=0).clutter == 0
    assert wsol.settings_for("quick", widths=[4, 8]).widths == (4, 8)
    with pytest.raises(ValueError, match="downsample"):
        wsol.WSOLSettings(widths=(4,), downsample=2)
    with pytest.raises(ValueError, match="threshold"):
        wsol.WSOLSettings(threshold=0)
    assert set(wsol.VARIANTS) >= {"base", "no clutter", "stride 8"}


def test_checkpoint_path_depends_on_training_settings_only(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    a = wsol.checkpoint_path(TINY, "gap", 0)
    assert a.parent == tmp_path and a.name.startswith("wsol_gap_seed0_")
    assert wsol.checkpoint_path(TINY.replace(threshold=0.5, test_size=7), "gap", 0) == a
    assert wsol.checkpoint_path(TINY.replace(epochs=2), "gap", 0) != a
    # gap_epochs is GAP's budget alone: it changes GAP's file, never GMP's
    assert wsol.checkpoint_path(TINY.replace(gap_epochs=3), "gap", 0) != a
    gmp = wsol.checkpoint_path(TINY, "gmp", 0)
    assert wsol.checkpoint_path(TINY.replace(gap_epochs=3), "gmp", 0) == gmp
    assert TINY.replace(gap_epochs=3).epochs_for("gap") == 3 and TINY.replace(gap_epochs=3).epochs_for("gmp") == 1
    assert wsol.checkpoint_path(TINY, "gmp", 0) != a and wsol.checkpoint_path(TINY, "gap", 1) != a


def test_predictions_of_object_mask_maps_are_perfect(canvases):
    """CAM = the object's mask: the peak is on the object, the 20 % region is the object, so the
    box is the ground-truth box (IoU 1), coverage and precision are 1."""
    n = len(canvases)
    model = ObjectMaskModel(canvases, canvases.labels)
    p = wsol.predict(model, canvases, 0.2, batch_size=7)
    assert p.cams.shape == (n, 40, 40) and p.top5.shape == (n, 5) and p.top5_boxes.shape == (n, 5, 4)
    assert torch.equal(p.boxes, canvases.boxes)
    m = wsol.localization_metrics(p, cam_step=0.1)
    assert set(m) == {key for key, _, _ in wsol.METRICS}
    for key in ("accuracy", "top1_loc", "top5_loc", "gt_known_loc", "pointing", "coverage", "precision",
                "mean_iou", "box_area_ratio", "maxboxacc@0.3", "maxboxacc@0.5", "maxboxacc@0.7", "maxboxacc_v2",
                "pxap"):
        assert m[key] == pytest.approx(1.0), key


def test_predictions_of_image_maps_include_clutter(canvases):
    """CAM = the image (object + clutter fragments): pointing still hits (the digit is brightest or
    ties), but the region holds clutter, so precision < 1; a wrong top-1 class kills Top-1 Loc only."""
    wrong = (canvases.labels + 1) % 10
    model = MaskModel(torch.ones(10), wrong, runner_up=canvases.labels)
    p = wsol.predict(model, canvases, 0.2, batch_size=10)
    assert torch.equal(p.top5[:, 1], canvases.labels)
    m = wsol.localization_metrics(p, cam_step=0.1)
    assert m["accuracy"] == 0.0 and m["top1_loc"] == 0.0
    assert m["top5_loc"] == pytest.approx(m["gt_known_loc"])  # the true class is 2nd, with the same map
    assert m["coverage"] == pytest.approx(1.0)
    assert m["precision"] < 1.0
    deltas = [m[f"maxboxacc@{delta}"] for delta in (0.3, 0.5, 0.7)]
    assert m["maxboxacc_v2"] == pytest.approx(sum(deltas) / 3) and deltas == sorted(deltas, reverse=True)
    assert m["box_area_ratio"] >= 1.0


def test_negative_class_weight_gives_whole_canvas_boxes(canvases):
    """A class whose weight is negative has CAMs <= 0: no positive evidence, whole-map boxes."""
    model = MaskModel(-torch.ones(10), canvases.labels)
    p = wsol.predict(model, canvases, 0.2)
    assert torch.equal(p.boxes, torch.tensor([0.0, 0.0, 40.0, 40.0]).expand(len(canvases), 4))
    m = wsol.localization_metrics(p, cam_step=0.1)
    assert m["box_area_ratio"] > 1.0 and m["coverage"] == pytest.approx(1.0)


def test_threshold_sweep_shapes_and_monotone_region(canvases):
    p = wsol.predict(MaskModel(torch.ones(10), canvases.labels), canvases, 0.2)
    sweep = wsol.threshold_sweep(p)
    assert sweep["threshold"][0] == pytest.approx(0.05) and sweep["threshold"][-1] == pytest.approx(0.95)
    assert all(len(v) == 19 for v in sweep.values())
    coverage = sweep["coverage"]  # the region shrinks as the threshold rises
    assert all(a >= b - 1e-9 for a, b in zip(coverage, coverage[1:]))


def _rows():
    return [
        {"variant": "base", "pool": "gap", "seed": 0, "accuracy": 0.8, "pointing": 0.90},
        {"variant": "base", "pool": "gap", "seed": 1, "accuracy": 0.9, "pointing": 0.94},
        {"variant": "base", "pool": "gap", "seed": 2, "accuracy": 1.0, "pointing": 0.98},
        {"variant": "base", "pool": "gmp", "seed": 0, "accuracy": 0.5, "pointing": 0.60},
        {"variant": "base", "pool": "gmp", "seed": 1, "accuracy": 0.7, "pointing": 0.60},
        {"variant": "no clutter", "pool": "gap", "seed": 0, "accuracy": 0.95, "pointing": 0.97},
    ]


def test_summarize_mean_and_sample_std_by_hand():
    summary = wsol.summarize(_rows(), metrics=("accuracy", "pointing"))
    assert [(e["variant"], e["pool"], e["n"]) for e in summary] == [
        ("base", "gap", 3), ("base", "gmp", 2), ("no clutter", "gap", 1)]
    gap, gmp, single = summary
    assert gap["seeds"] == [0, 1, 2]
    assert gap["accuracy"]["mean"] == pytest.approx(0.9)
    assert gap["accuracy"]["std"] == pytest.approx(0.1)  # sqrt(((-.1)^2 + 0 + .1^2) / 2)
    assert gap["pointing"]["std"] == pytest.approx(0.04)
    assert gmp["accuracy"]["mean"] == pytest.approx(0.6)
    assert gmp["accuracy"]["std"] == pytest.approx(math.sqrt(0.02))
    assert gmp["pointing"]["std"] == 0.0 and single["accuracy"]["std"] == 0.0
    table = wsol.markdown_table(summary, metrics=("accuracy", "pointing"))
    lines = table.splitlines()
    assert len(lines) == 4 and "base · GAP (seeds 0,1,2)" in lines[0]
    assert "| 90.0 ± 10.0 | 60.0 ± 14.1 | 95.0 |" in lines[2]
    assert wsol.higher_or_lower(summary, "pointing") == "higher"
    assert wsol.higher_or_lower(summary, "accuracy") == "higher"  # 0.3 apart, spreads 0.1 and 0.14


def test_paper_table_reports_errors():
    rows = [dict(r, top1_loc=r["accuracy"] / 2, top5_loc=r["accuracy"]) for r in _rows()]
    table = wsol.paper_table(wsol.summarize(rows, metrics=("top1_loc", "top5_loc")))
    assert "| GoogLeNet-GAP (paper) | ILSVRC 2014 val | 56.40 | 43.00 |" in table
    assert "| GoogLeNet-GMP (paper) | ILSVRC 2014 val | 57.78 | 45.26 |" in table
    assert "| GAPNet-GAP (ours, 3 seeds) | canvas digits | 55.00 ± 5.00 | 10.00 ± 10.00 |" in table
    assert "no clutter" not in table and table.count("ours") == 2


def test_run_experiment_tiny_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    monkeypatch.setattr(wsol, "make_splits", lambda settings, seed=0: _splits(settings, seed))
    keep = {}
    rows = wsol.run_experiment(TINY, seeds=(0, 1), variants={"base": {}, "no clutter": {"clutter": 0}},
                               variant_seeds=(0,), device="cpu", progress=False, keep=keep)
    assert [(r["variant"], r["pool"], r["seed"]) for r in rows] == [
        ("base", "gap", 0), ("base", "gmp", 0), ("base", "gap", 1), ("base", "gmp", 1),
        ("no clutter", "gap", 0), ("no clutter", "gmp", 0)]
    for row in rows:
        assert {key for key, _, _ in wsol.METRICS} <= set(row)
        assert row["top1_loc"] <= min(row["accuracy"], row["gt_known_loc"]) and row["top5_loc"] >= row["top1_loc"]
        assert row["stride"] == 2 and not row["loaded"]
    assert rows[-1]["clutter"] == 0
    model, predictions = keep[("base", "gmp", 1)]
    assert model.config["pool"] == "gmp" and len(predictions) == TINY.test_size
    assert len(list(tmp_path.glob("wsol_*.pt"))) == 6
    again = wsol.run_experiment(TINY, seeds=(0,), pools=("gap",), device="cpu", progress=False)
    assert again[0]["loaded"] and again[0]["accuracy"] == rows[0]["accuracy"]
    wsol.summarize(rows)
    path = wsol.save_results(tmp_path / "r.json", {"rows": rows, "nan": float("nan")})
    assert '"nan": null' in path.read_text()


def _splits(settings, seed):
    from camlib.data import LocalizationSplits

    options = dict(canvas=settings.canvas, scale=settings.scale, clutter=settings.clutter,
                   fragment=settings.fragment)
    digits = _digits(60, seed)
    train = CanvasDigits(digits, settings.train_size, seed=2 * seed, **options)
    test = CanvasDigits(digits, settings.test_size, seed=2 * seed + 1, **options)
    return LocalizationSplits(train=train, test=test, digits=None, classes=digits.classes, source="synthetic")


# Hostile input: refused in words, and degenerate cases give numbers, never NaN -------------


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"canvas": 0}, r"canvas must be an integer >= 1, got 0"),
        ({"canvas": 2, "downsample": 2}, r"canvas=2 is smaller than the CAM's stride"),
        ({"clutter": -1}, r"clutter must be an integer >= 0"),
        ({"train_size": 2.5}, r"train_size must be an int"),
        ({"widths": ()}, r"widths must name at least one stage"),
        ({"widths": (8, 0)}, r"widths\[1\] must be an integer >= 1"),
        ({"lr": 0.0}, r"lr must be a positive finite number"),
        ({"lr": float("nan")}, r"lr must be a positive finite number"),
        ({"threshold": "0.2"}, r"threshold must be a number in \(0, 1\]"),
        ({"cam_step": float("nan")}, r"cam_step must lie in \(0, 1\]"),
        ({"colour": "red"}, r"WSOLSettings has no field colour"),
    ],
)
def test_settings_refuse_bad_values_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        TINY.replace(**changes)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda c: wsol.predict(nn.Linear(1, 1), c), TypeError, r"forward_with_maps"),
        (lambda c: wsol.predict(MaskModel(torch.ones(10), c.labels), list(c)), TypeError, r"CanvasDigits"),
        (lambda c: wsol.predict(MaskModel(torch.ones(10), c.labels), c, 2.0), ValueError, r"threshold must be"),
        (lambda c: wsol.predict(MaskModel(torch.ones(10), c.labels), c, batch_size=0), ValueError, r"batch_size"),
        (lambda c: wsol.predict(MaskModel(torch.ones(3), 0 * c.labels), c), ValueError, r"label \d but the model has"),
    ],
    ids=["not-gap", "not-canvases", "threshold", "batch-size", "labels"],
)
def test_predict_refuses_bad_arguments_before_any_work(canvases, call, error, message):
    with pytest.raises(error, match=message):
        call(canvases)


def test_metrics_of_fewer_than_five_classes_are_numbers_not_nan(canvases):
    # With 3 classes the "top 5" holds every class: Top-5 Loc is GT-known Loc, not NaN.
    p = wsol.predict(MaskModel(torch.ones(10), canvases.labels), canvases, 0.2)
    p.top5, p.top5_boxes = p.top5[:, :3], p.top5_boxes[:, :3]
    m = wsol.localization_metrics(p, cam_step=0.1)
    assert not any(math.isnan(v) for v in m.values())
    assert m["top5_loc"] == m["gt_known_loc"]
    with pytest.raises(ValueError, match=r"cam_step must lie in \(0, 1\]"):
        wsol.localization_metrics(p, cam_step=0)


def test_ground_truth_boxes_without_area_are_refused_not_divided_by(canvases):
    p = wsol.predict(MaskModel(torch.ones(10), canvases.labels), canvases, 0.2)
    p.gt_boxes = p.gt_boxes.clone()
    p.gt_boxes[3] = torch.tensor([5.0, 5.0, 5.0, 9.0])
    with pytest.raises(ValueError, match="ground-truth box of canvas 3 .* has no area"):
        wsol.localization_metrics(p, cam_step=0.1)
    with pytest.raises(ValueError, match="has no area"):
        wsol.threshold_sweep(p, [0.2])


def test_summarize_refuses_missing_or_non_finite_metrics():
    with pytest.raises(ValueError, match=r"row 0 of rows has no \['coverage'\]"):
        wsol.summarize(_rows(), metrics=("coverage",))
    rows = _rows()
    rows[1]["accuracy"] = None  # a NaN saved as JSON null
    with pytest.raises(ValueError, match="metric 'accuracy' of group .* not finite"):
        wsol.summarize(rows, metrics=("accuracy",))


# --------------------------------------------------------------------------------------
# Red-team findings
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, message", [
    ({"dataset": "cifar"}, r"dataset='cifar': use one of \['fashion-mnist', 'mnist'\]"),
    ({"scale": (2, 1)}, "0 < min <= max"),
    ({"scale": "big"}, "scale must be a pair"),
    ({"fragment": 100}, r"fragment=100 is larger than the canvas \(32 pixels\)"),
])
def test_settings_check_the_data_fields_too(changes, message):
    with pytest.raises(ValueError, match=message):
        TINY.replace(**changes)


def test_arguments_of_the_wrong_kind_are_named(canvases):
    for call in (lambda: wsol.build_network(None, "gap"), lambda: wsol.checkpoint_path(None, "gap", 0),
                 lambda: wsol.run_experiment(None, seeds=[0])):
        with pytest.raises(TypeError, match="settings must be a WSOLSettings"):
            call()
    with pytest.raises(ValueError, match=r"pool='../x': use one of \['gap', 'gmp'\]"):
        wsol.checkpoint_path(TINY, "../x", 0)
    with pytest.raises(TypeError, match="seed must be an integer, got '0'"):
        wsol.checkpoint_path(TINY, "gap", "0")
    with pytest.raises(TypeError, match="splits must be camlib.data.LocalizationSplits"):
        wsol.train_model(TINY, "gap", splits="splits", checkpoint=False, progress=False)
    for device, message in (("cuda", "CUDA is not available"), ("gpu", "not a device torch knows")):
        if device == "cuda" and torch.cuda.is_available():
            continue
        with pytest.raises(ValueError, match=message):
            wsol.predict(wsol.build_network(TINY, "gap"), canvases, device=device)
    for call in (lambda: wsol.localization_metrics(None), lambda: wsol.threshold_sweep(None)):
        with pytest.raises(TypeError, match="predictions must be what camlib.lab.wsol.predict returns"):
            call()


def test_tables_and_comparisons_name_a_summary_they_cannot_read():
    rows = [{"variant": "base", "pool": p, "seed": s, **{k: 0.5 for k, _, _ in wsol.METRICS}}
            for p in ("gap", "gmp") for s in (0, 1)]
    summary = wsol.summarize(rows)
    with pytest.raises(TypeError, match="rows must be a list of dicts"):
        wsol.summarize(None)
    with pytest.raises(ValueError, match="is missing, not a number or not finite: \\['high'\\]"):
        wsol.summarize([{**rows[0], "accuracy": "high"}])
    for call, match in [(lambda: wsol.markdown_table(None), "summary must be the list"),
                        (lambda: wsol.markdown_table(summary, metrics=["nope"]), r"missing: \['nope'\]"),
                        (lambda: wsol.paper_table(rows), r"missing: \['n', 'seeds'\]"),
                        (lambda: wsol.higher_or_lower(summary, "nope"), r"missing: \['nope'\]")]:
        with pytest.raises((TypeError, ValueError), match=match):
            call()


def test_save_results_writes_numpy_and_tensors_and_never_loses_the_old_file(tmp_path):
    import json

    import numpy as np

    path = wsol.save_results(tmp_path / "r.json", {"a": np.float32(0.5), "b": np.int64(3), "c": np.arange(2),
                                                   "d": torch.tensor([1.5, float("nan")])})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": 3, "c": [0, 1], "d": [1.5, None]}
    with pytest.raises(TypeError, match="save_results writes numbers, strings, lists and dicts"):
        wsol.save_results(path, {"x": object()})
    assert json.loads(path.read_text())["b"] == 3  # the earlier results are still there
    with pytest.raises(IsADirectoryError, match="is a folder"):
        wsol.save_results(tmp_path, {"x": 1})
    with pytest.raises(TypeError, match="payload must be a dict"):
        wsol.save_results(tmp_path / "l.json", [1, 2])


def test_size_variants_span_both_object_types_and_three_sizes():
    variants = wsol.size_variants()
    assert list(variants)[:3] == ["mnist small", "mnist medium", "mnist large"]
    assert variants["fashion-mnist large"] == {"dataset": "fashion-mnist", "scale": (2.0, 2.2), "canvas": 96,
                                               "clutter": 7}
    assert wsol.size_variants(grow_canvas=False)["fashion-mnist large"] == {"dataset": "fashion-mnist",
                                                                            "scale": (2.0, 2.2)}
    assert variants["mnist small, no clutter"]["clutter"] == 0
    assert "mnist small, no clutter" not in wsol.size_variants(["fashion-mnist"])
    assert wsol.settings_for("quick").scale == wsol.OBJECT_SIZES["mnist"]["small"]  # the base setting
    with pytest.raises(ValueError, match="datasets must be a list"):
        wsol.size_variants("mnist")


@pytest.mark.parametrize("shipped", [wsol.SHIPPED_RESULTS, wsol.SHIPPED_CANVAS64])
def test_shipped_results_hold_both_pools_three_seeds_and_the_floor(shipped):
    results = wsol.load_results(shipped=shipped)  # camlib/results/*.json, read by notebooks 03 and 06
    rows = results["rows"]
    grown = shipped == wsol.SHIPPED_RESULTS
    variants = wsol.size_variants(grow_canvas=grown)
    assert results["variants"] == {name: {k: list(v) if isinstance(v, tuple) else v for k, v in changes.items()}
                                   for name, changes in variants.items()}
    # the centre prior of every variant and seed, beside the networks
    floors = {(row["variant"], row["seed"]) for row in results["floors"]}
    assert floors == {(name, seed) for name in variants for seed in results["seeds"]}
    assert {e["variant"] for e in results["floor_summary"]} == set(variants)
    margins = {e["variant"]: next(s for s in results["summary"] if s["variant"] == e["variant"] and s["pool"] == "gap")
               ["maxboxacc_v2"]["mean"] - e["maxboxacc_v2"]["mean"] for e in results["floor_summary"]}
    if grown:  # the axis the benchmark ships: GAP at least 10 points above the floor at every size
        assert min(margins.values()) >= 0.10, margins
    else:  # the earlier canvases: a map that never sees the image beats GAP on large objects
        assert margins["mnist large"] < 0 and margins["fashion-mnist large"] < 0, margins
    needed = {"variant", "dataset", "object_area", "pool", "seed", "epochs", "accuracy", "maxboxacc_v2",
              "maxboxacc_v2_max_rule", "maxboxacc_v2_wsolevaluation", "gt_known_loc", "pointing"}
    assert all(needed <= set(row) for row in rows)
    for name in wsol.size_variants():
        for pool in ("gap", "gmp"):
            seeds = {row["seed"] for row in rows if row["variant"] == name and row["pool"] == pool}
            assert len(seeds) >= 3, (name, pool, seeds)
    areas = {row["dataset"]: [] for row in rows}
    for row in rows:
        areas[row["dataset"]].append(row["object_area"])
    assert set(areas) == {"mnist", "fashion-mnist"}
    everything = [a for values in areas.values() for a in values]
    assert min(everything) <= 0.12 and max(everything) >= (0.14 if grown else 0.45)
    assert all(row["epochs"] == results["settings"]["gap_epochs"] for row in rows if row["pool"] == "gap")
    # the fair fight: at matched accuracy, GAP's extra epochs bring it within about two points of GMP
    gaps = results["accuracy_gap_gap_minus_gmp"]
    assert set(gaps) == set(variants) and all(abs(gap) <= 0.025 for gap in gaps.values()), gaps


def test_load_results_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        wsol.load_results(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{rows: ")
    with pytest.raises(ValueError, match="is not JSON"):
        wsol.load_results(broken)
    partial = tmp_path / "partial.json"
    partial.write_text('{"rows": []}')
    with pytest.raises(ValueError, match=r"lacks \['summary', 'seeds', 'settings'\]"):
        wsol.load_results(partial)


def test_notebook_03s_statements_hold_on_the_shipped_results():
    """Notebook 03's text about the size axis was written from the shipped benchmark results: every
    statement it makes (wsol.size_axis_claims) holds there, and a new run that changes one fails here."""
    results = wsol.load_results()
    metrics = [key for key, _, _ in wsol.METRICS] + ["object_area", "canvas"]
    claims = wsol.size_axis_claims(wsol.summarize(results["rows"], metrics=metrics), results["floor_summary"],
                                   results["image_floor_summary"])
    assert len(claims) == 21
    assert all(claims.values()), [claim for claim, holds in claims.items() if not holds]
    flipped = [{**row, "coverage": 1 - row["coverage"]} for row in results["rows"]]  # the claims can fail
    assert not wsol.size_axis_claims(wsol.summarize(flipped, metrics=metrics), results["floor_summary"])[
        "7, 9: GAP covers more of the object everywhere, beyond the spread"]
    perfect = [{**row, "pxap": 1.0} for row in results["rows"]]  # networks that rank every object pixel first
    assert not wsol.size_axis_claims(wsol.summarize(perfect, metrics=metrics), results["floor_summary"],
                                     results["image_floor_summary"])[
        "9: the image itself beats both networks on PxAP and MaxBoxAccV2 at every size"]

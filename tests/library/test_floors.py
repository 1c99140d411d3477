"""camlib.metrics.floors: the centre prior, a localization floor that never looks at the image."""

from __future__ import annotations

import pytest
import torch

from camlib.data import CanvasDigits, DigitDataset, LocalizationSplits
from camlib.lab import wsol
from camlib.metrics import floors
from camlib.metrics.localize import bbox_from_cam, gt_known_loc, max_box_acc_v2, pointing_accuracy, pxap


def _random_boxes(n: int, canvas: int, side: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Square-ish boxes placed uniformly wherever they fit, as CanvasDigits places its objects."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randint(side[0], side[1] + 1, (n,), generator=g)
    h = torch.randint(side[0], side[1] + 1, (n,), generator=g)
    x = (torch.rand(n, generator=g) * (canvas - w + 1)).floor()
    y = (torch.rand(n, generator=g) * (canvas - h + 1)).floor()
    return torch.stack([x, y, x + w, y + h], 1).float()


TINY = wsol.WSOLSettings(train_size=50, test_size=30, canvas=32, scale=(0.75, 1.0), clutter=1, cam_step=0.1)


def _digits(n: int = 30, seed: int = 0) -> DigitDataset:
    """Synthetic 28x28 'digits': a bright rectangle of a size that depends on the class."""
    labels = torch.arange(n) % 10
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        top = 2 + (i * 7 + seed) % 6
        images[i, top : top + 14 + label % 4, 6 + label % 5 : 20] = 200
    return DigitDataset(images, labels, [str(k) for k in range(10)], "synthetic rectangles")


def test_centre_gaussian_peaks_at_the_centre_and_is_symmetric():
    g = floors.centre_gaussian(16, 3.0)
    assert g.shape == (16, 16) and g.dtype == torch.float64
    assert float(g.max()) == 1.0 and float(g[7, 7]) == float(g[8, 8]) == 1.0  # the four central pixels
    assert torch.equal(g, g.flip(0)) and torch.equal(g, g.flip(1)) and torch.equal(g, g.T)
    assert float(g[0, 0]) < float(g[4, 4]) < 1.0
    for bad in (0, -1.0, float("nan"), float("inf"), True, "3"):
        with pytest.raises(ValueError, match="sigma must be a positive number"):
            floors.centre_gaussian(16, bad)


def test_box_accuracy_of_one_map_equals_the_protocol_on_the_repeated_map():
    boxes = _random_boxes(60, 32, (6, 20), seed=1)
    score_map = floors.centre_gaussian(32, 7.0) + 0.3 * torch.rand(32, 32, generator=torch.Generator().manual_seed(2),
                                                                    dtype=torch.float64)  # several components
    taus = [k / 10 for k in range(10)]
    fast = floors.box_accuracy_of_one_map(score_map, boxes, taus)
    protocol = max_box_acc_v2(score_map.expand(60, 32, 32), boxes, cam_thresholds=taus)
    assert torch.allclose(fast.float(), protocol.box_acc, atol=1e-6)


def test_a_prior_fitted_on_fixed_centred_boxes_scores_them_perfectly():
    box = torch.tensor([[10.0, 11.0, 22.0, 21.0]])  # centred on a 32 canvas
    prior = floors.fit_centre_prior(box.expand(20, 4), 32, cam_step=0.05)
    scores = prior.evaluate(box.expand(5, 4))
    assert prior.box == (10.0, 11.0, 22.0, 21.0)
    assert scores["gt_known_loc"] == 1.0 and scores["pointing"] == 1.0 and scores["pointing_centre"] == 1.0
    assert scores["maxboxacc_v2"] >= 2 / 3  # IoU 0.3 and 0.5 at least, from a round Gaussian on a 12 x 10 box


def test_the_floor_falls_as_the_canvas_grows_around_the_same_objects():
    """An object that can move is harder to guess: the same sizes on a larger canvas lower every floor."""
    scores = {}
    for canvas in (40, 80):
        train, test = _random_boxes(400, canvas, (18, 30), 3), _random_boxes(300, canvas, (18, 30), 4)
        scores[canvas] = floors.fit_centre_prior(train, canvas, cam_step=0.05).evaluate(test)
    for metric in ("maxboxacc_v2", "gt_known_loc", "pointing"):
        assert scores[80][metric] < scores[40][metric], (metric, scores)


def test_the_fixed_box_and_point_are_scored_by_the_library_metrics():
    train, test = _random_boxes(300, 48, (8, 24), 5), _random_boxes(200, 48, (8, 24), 6)
    prior = floors.fit_centre_prior(train, 48, sigmas=[6.0, 12.0], cam_step=0.1)
    assert prior.sigma in (6.0, 12.0)
    scores = prior.evaluate(test)
    assert scores["gt_known_loc"] == gt_known_loc(torch.tensor([prior.box]).expand(200, 4), test)
    peak = torch.zeros(200, 48, 48)
    peak[:, prior.point[1], prior.point[0]] = 1
    assert scores["pointing"] == pointing_accuracy(peak, test)
    # the best point is, on the training boxes, at least as good as the canvas's centre pixel
    fitted = prior.evaluate(train)
    assert fitted["pointing"] >= fitted["pointing_centre"]


def test_the_best_point_is_where_most_training_boxes_overlap():
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [2.0, 2.0, 6.0, 6.0], [3.0, 1.0, 8.0, 5.0], [20.0, 20.0, 24.0, 24.0]])
    prior = floors.fit_centre_prior(boxes, 32, sigmas=[4.0], cam_step=0.5)
    assert prior.point == (3, 2)  # pixel centre (3.5, 2.5) lies in the first three boxes


def test_bad_boxes_and_settings_name_the_problem():
    with pytest.raises(ValueError, match=r"non-empty \[N, 4\]"):
        floors.fit_centre_prior(torch.zeros(0, 4), 32)
    with pytest.raises(ValueError, match="lie on the 32x32 canvas"):
        floors.fit_centre_prior(torch.tensor([[0.0, 0.0, 40.0, 10.0]]), 32)
    with pytest.raises(ValueError, match="x_max >= x_min"):
        floors.fit_centre_prior(torch.tensor([[5.0, 0.0, 2.0, 10.0]]), 32)
    with pytest.raises(ValueError, match="sigmas is empty"):
        floors.fit_centre_prior(torch.tensor([[5.0, 0.0, 12.0, 10.0]]), 32, sigmas=[])
    with pytest.raises(ValueError, match="cam_step"):
        floors.fit_centre_prior(torch.tensor([[5.0, 0.0, 12.0, 10.0]]), 32, cam_step=0)


def test_centre_prior_rows_give_one_row_per_variant_and_seed(monkeypatch):
    def splits(settings, seed=0):
        options = dict(canvas=settings.canvas, scale=settings.scale, clutter=settings.clutter)
        train = CanvasDigits(_digits(), 50, seed=2 * seed, **options)
        test = CanvasDigits(_digits(seed=1), 30, seed=2 * seed + 1, **options)
        return LocalizationSplits(train, test, None, train.classes, "synthetic")

    monkeypatch.setattr(wsol, "make_splits", splits)
    rows = wsol.centre_prior_rows(TINY, {"base": {}, "wide": {"canvas": 48, "clutter": 2}}, seeds=(0, 1))
    assert [(r["variant"], r["seed"], r["canvas"]) for r in rows] == [
        ("base", 0, 32), ("base", 1, 32), ("wide", 0, 48), ("wide", 1, 48)]
    assert all(set(floors.FLOOR_METRICS) <= set(r) and 0 <= r["maxboxacc_v2"] <= 1 for r in rows)
    assert all(0 < r["pxap"] < 1 for r in rows)
    summary = wsol.summarize_priors(rows)
    assert [e["variant"] for e in summary] == ["base", "wide"] and "pxap" in summary[0]
    images = wsol.image_floor_rows(TINY, {"base": {}, "wide": {"canvas": 48, "clutter": 2}}, seeds=(0, 1))
    assert [(r["variant"], r["seed"], r["canvas"]) for r in images] == [(r["variant"], r["seed"], r["canvas"])
                                                                        for r in rows]
    test = splits(TINY.replace(canvas=48, clutter=2), seed=1).test  # the last row's canvases, scored again
    expected = floors.image_floor(test.pixels[:, 0].float() / 255, test.masks, test.boxes, cam_step=TINY.cam_step)
    assert {m: images[-1][m] for m in floors.IMAGE_FLOOR_METRICS} == expected
    assert [e["variant"] for e in wsol.summarize_images(images)] == ["base", "wide"]


def test_the_gaussians_pxap_is_the_protocols_on_the_repeated_map():
    prior = floors.CentrePrior(canvas=16, sigma=3.0, box=(4, 4, 12, 12), point=(8, 8), cam_step=0.05)
    masks = torch.zeros(3, 16, 16, dtype=torch.bool)
    masks[0, 6:10, 6:10], masks[1, 0:4, 0:4], masks[2, 5:12, 2:9] = True, True, True
    expected = pxap(prior.map().expand(3, 16, 16), masks, cam_thresholds=torch.arange(0, 1, 0.05)).pxap
    assert prior.pxap(masks) == pytest.approx(expected, abs=1e-12)
    centred = masks.clone()
    centred[1:] = False
    centred[1:, 6:10, 6:10] = True  # every object on the Gaussian's peak: its pixels rank first
    assert prior.pxap(centred) == pytest.approx(1.0)


def test_the_image_floor_scores_the_image_with_the_networks_metrics():
    images = torch.zeros(4, 20, 20)
    masks = torch.zeros(4, 20, 20, dtype=torch.bool)
    boxes = torch.tensor([[2.0, 3.0, 8.0, 9.0], [10.0, 10.0, 18.0, 16.0], [0.0, 0.0, 6.0, 6.0],
                          [5.0, 12.0, 15.0, 20.0]])
    for k, (x0, y0, x1, y1) in enumerate(boxes.int().tolist()):
        masks[k, y0:y1, x0:x1] = True
        images[k, y0:y1, x0:x1] = 0.8
    images[3, 0:3, 0:3] = 1.0  # clutter brighter than the object: the peak misses, the largest region too
    result = floors.image_floor(images, masks, boxes, threshold=0.5, cam_step=0.1)
    assert set(result) == set(floors.IMAGE_FLOOR_METRICS)
    assert result["pointing"] == pointing_accuracy(images, boxes) == 0.75
    assert result["gt_known_loc"] == gt_known_loc(bbox_from_cam(images, 0.5), boxes)
    assert result["maxboxacc_v2"] == max_box_acc_v2(images, boxes, cam_thresholds=torch.arange(0, 1, 0.1)).mean == 1.0
    assert 0.9 < result["pxap"] < 1  # only the bright clutter ranks above object pixels
    with pytest.raises(ValueError, match=r"images\[:, 0\]"):
        floors.image_floor(images[:, None], masks, boxes)


def test_grown_canvases_keep_the_clutter_density():
    grown, fixed = wsol.size_variants(), wsol.size_variants(grow_canvas=False)
    assert "canvas" not in grown["mnist small"] and "canvas" not in fixed["mnist large"]
    assert grown["mnist large"]["canvas"] == wsol.SIZE_CANVASES["large"] > 64
    assert grown["fashion-mnist medium"]["clutter"] == wsol.clutter_for(wsol.SIZE_CANVASES["medium"])
    assert wsol.clutter_for(64) == 3 and wsol.clutter_for(128) == 12


def test_floor_table_sets_each_pool_beside_the_prior_and_gives_the_margin():
    def stat(value):
        return {"mean": value, "std": 0.0}

    metrics = ("maxboxacc_v2", "pointing")
    summary = [{"variant": "v", "pool": pool, "n": 3, "seeds": [0, 1, 2], "canvas": stat(80.0),
                "object_area": stat(0.14), **{m: stat(value) for m in metrics}}
               for pool, value in (("gap", 0.6), ("gmp", 0.5))]
    priors = [{"variant": "v", "n": 3, "seeds": [0, 1, 2], **{m: stat(0.25) for m in metrics}}]
    table = wsol.floor_table(summary, priors, metrics).splitlines()
    assert table[2] == "| v | 80 | 14 | 60.0 / 50.0 / 25.0 | +35.0 | 60.0 / 50.0 / 25.0 | +35.0 |"
    images = [{"variant": "v", "n": 3, "seeds": [0, 1, 2], "maxboxacc_v2": stat(0.9), "pointing": stat(0.55)}]
    table = wsol.floor_table(summary, priors, metrics, images=images).splitlines()
    assert "GAP / GMP / prior / image | GAP − prior |" in table[0] and table[1].count("|") == table[2].count("|")
    assert table[2] == "| v | 80 | 14 | 60.0 / 50.0 / 25.0 / 90.0 | +35.0 | 60.0 / 50.0 / 25.0 / 55.0 | +35.0 |"
    with pytest.raises(ValueError, match="summary"):
        wsol.floor_table(summary, [{"variant": "v"}], metrics)

"""camlib.metrics.faithfulness: hand-computed curves, RISE's loop, and agreement with Quantus and pytorch-grad-cam.

Conventions fixed for the comparisons (each test says which):
* maps without ties (seeded random values, checked distinct), because camlib breaks ties in
  raster order while Quantus's and RISE's ``np.argsort`` are not stable;
* Quantus ``PixelFlipping``: ``perturb_baseline=0.0`` (its default "black" is each image's
  minimum), ``normalise=False``, ``abs=False``, ``softmax=True``; its curve has no point for the
  unperturbed image, so it is camlib's curve without its first point;
* pytorch-grad-cam: ``ClassifierOutputSoftmaxTarget`` (probabilities), ``NoisyLinearImputer(noise=0)``
  (no random noise), and its percentile (percent kept) turned into camlib's percent removed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import trapezoid
from scipy.ndimage import gaussian_filter
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from camlib._guards import channels_last_on_cpu, eval_mode
from camlib.methods.cam import normalize_cams, upsample_cams
from camlib.metrics.faithfulness import (
    auc,
    blur_substrate,
    confidence_change,
    deletion,
    insertion,
    noisy_linear_imputation,
    road,
    salient_ranks,
)
from camlib.models import GAPNet

FLOAT32 = 1e-5  # agreement of two float32 pipelines that score the same perturbed images


def sum_model(pixels: int, channels: int = 1) -> nn.Module:
    """Logits ``[sum of all pixels, 0]``: deletion and insertion curves can be added up by hand."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(channels * pixels, 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = 1.0
    return model.eval()


def small_cnn(channels: int = 1, seed: int = 0) -> GAPNet:
    """A random GAPNet whose logits spread widely, so that its probabilities feel every pixel."""
    torch.manual_seed(seed)
    model = GAPNet(in_channels=channels, num_classes=5, widths=(4, 8), downsample=1).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(1000)
    return model


def untied_maps(batch: int, size: int, seed: int = 0) -> torch.Tensor:
    maps = torch.rand(batch, size, size, generator=torch.Generator().manual_seed(seed))
    assert all(len(m.unique()) == m.numel() for m in maps)  # no ties: every sort gives one order
    return maps


def seeded_images(batch: int, channels: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


IMAGE = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
MAP = torch.tensor([[[0.1, 0.4], [0.3, 0.2]]])  # order: pixel (0,1)=2, (1,0)=3, (1,1)=4, (0,0)=1


# ------------------------------------------------------------------------------------- auc


def test_auc_of_known_arrays_is_rises_normalized_trapezoid():
    assert float(auc([0.0, 1.0])) == 0.5
    assert float(auc([1.0, 1.0, 1.0])) == 1.0
    assert float(auc([1.0, 0.0, 0.0, 0.0, 0.0])) == 0.125
    assert float(auc([2, 4])) == 3.0  # integers are fine
    arrays = np.random.default_rng(0).random((3, 9))
    rise = [(a.sum() - a[0] / 2 - a[-1] / 2) / (a.shape[0] - 1) for a in arrays]  # eclique/RISE evaluation.py
    np.testing.assert_allclose(auc(torch.from_numpy(arrays)).numpy(), rise, rtol=1e-12)
    np.testing.assert_allclose(rise, trapezoid(arrays, dx=1 / 8, axis=1), rtol=1e-12)


def test_auc_needs_two_points():
    with pytest.raises(ValueError, match="at least 2 points"):
        auc([0.5])


# -------------------------------------------------------------- deletion and insertion by hand


def test_deletion_and_insertion_by_hand_on_a_sum_model():
    model = sum_model(4)
    removed = deletion(model, IMAGE, MAP, [0], score="logit")
    torch.testing.assert_close(removed.scores, torch.tensor([[10.0, 8.0, 5.0, 1.0, 0.0]]))
    assert float(removed.auc) == pytest.approx((24 - 10 / 2 - 0 / 2) / 4)
    torch.testing.assert_close(removed.fractions, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    inserted = insertion(model, IMAGE, MAP, [0], score="logit", substrate="zeros")
    torch.testing.assert_close(inserted.scores, torch.tensor([[0.0, 2.0, 5.0, 9.0, 10.0]]))
    probability = deletion(model, IMAGE, MAP, [0]).scores  # softmax of [s, 0] is sigmoid(s)
    torch.testing.assert_close(probability, torch.sigmoid(torch.tensor([[10.0, 8.0, 5.0, 1.0, 0.0]])))


def test_steps_that_do_not_divide_the_pixels_end_with_a_shorter_step():
    removed = deletion(sum_model(4), IMAGE, MAP, [0], step=3, score="logit")  # ceil(4 / 3) = 2 steps
    torch.testing.assert_close(removed.scores, torch.tensor([[10.0, 1.0, 0.0]]))
    torch.testing.assert_close(removed.fractions, torch.tensor([0.0, 0.75, 1.0]))
    assert float(removed.auc) == pytest.approx((11 - 5) / 2)  # RISE: equally spaced points all the same


def test_ties_keep_raster_order():
    flat = torch.full((1, 2, 2), 0.5)
    torch.testing.assert_close(deletion(sum_model(4), IMAGE, flat, [0], score="logit").scores,
                               torch.tensor([[10.0, 9.0, 7.0, 4.0, 0.0]]))
    assert salient_ranks(torch.tensor([[[1.0, 3.0], [3.0, 2.0]]])).tolist() == [[3, 0, 1, 2]]


def test_a_constant_substrate_and_steps_that_change_nothing():
    ones = torch.ones(1, 1, 1, 1)  # broadcast to the image; pixel (0,0) already holds 1, so the last step is a no-op
    torch.testing.assert_close(deletion(sum_model(4), IMAGE, MAP, [0], substrate=ones, score="logit").scores,
                               torch.tensor([[10.0, 9.0, 7.0, 4.0, 4.0]]))
    sparse = torch.tensor([[[[0.0, 2.0], [0.0, 4.0]]]])  # zero pixels deleted into zeros change nothing
    torch.testing.assert_close(deletion(sum_model(4), sparse, MAP, [0], score="logit").scores,
                               torch.tensor([[6.0, 4.0, 4.0, 0.0, 0.0]]))
    torch.testing.assert_close(deletion(sum_model(4), sparse, MAP, [0], substrate=lambda x: x + 1, score="logit")
                               .scores, torch.tensor([[6.0, 7.0, 8.0, 9.0, 10.0]]))
    black = deletion(sum_model(4), torch.zeros(2, 1, 2, 2), MAP.expand(2, -1, -1), [0, 1], score="logit").scores
    torch.testing.assert_close(black, torch.zeros(2, 5))  # no step changes anything: one forward pass in all


def test_all_channels_of_a_pixel_move_together():
    image = torch.stack([IMAGE[0, 0], 10 * IMAGE[0, 0], 100 * IMAGE[0, 0]])[None]  # [1, 3, 2, 2]
    scores = deletion(sum_model(4, channels=3), image, MAP, [0], score="logit").scores
    torch.testing.assert_close(scores, 111 * torch.tensor([[10.0, 8.0, 5.0, 1.0, 0.0]]))


def test_deletion_and_insertion_add_up_for_a_linear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 9, 3, bias=False)).eval()
    images, maps = seeded_images(5, 2, 3), untied_maps(5, 3)
    removed = deletion(model, images, maps, [0, 1, 2, 0, 1], score="logit", step=2)
    inserted = insertion(model, images, maps, [0, 1, 2, 0, 1], score="logit", step=2, substrate="zeros")
    torch.testing.assert_close(removed.scores + inserted.scores, inserted.scores[:, -1:].expand(-1, 6))


def rise_loop(model: nn.Module, image: torch.Tensor, explanation: np.ndarray, cls: int, step: int,
              mode: str, substrate: torch.Tensor) -> np.ndarray:
    """RISE's CausalMetric.single_run (eclique/RISE evaluation.py), one image at a time, softmax scores."""
    channels, pixels = image.shape[1], image.shape[-2] * image.shape[-1]
    n_steps = (pixels + step - 1) // step
    start, finish = (image.clone(), substrate.clone()) if mode == "del" else (substrate.clone(), image.clone())
    scores = np.empty(n_steps + 1)
    salient_order = np.flip(np.argsort(explanation.reshape(-1, pixels), axis=1), axis=-1)
    for i in range(n_steps + 1):
        with torch.no_grad():
            scores[i] = torch.softmax(model(start), dim=1)[0, cls]
        if i < n_steps:
            coords = salient_order[:, step * i:step * (i + 1)]
            start.numpy().reshape(1, channels, pixels)[0, :, coords] = finish.numpy().reshape(1, channels, pixels)[
                0, :, coords]
    return scores


@pytest.mark.parametrize("mode", ["del", "ins"])
def test_curves_match_rises_loop_on_images_with_black_background(mode):
    model = small_cnn(channels=3)
    images = seeded_images(2, 3, 10)
    images[:, :, :, :4] = 0  # a black band: deleting it into zeros changes nothing
    maps, classes = untied_maps(2, 10), [0, 3]
    substrate = torch.zeros_like(images) if mode == "del" else blur_substrate(images, 5, 2.0)
    metric = deletion if mode == "del" else insertion
    ours = metric(model, images, maps, classes, step=7, substrate=substrate)
    for b in range(2):
        reference = rise_loop(model, images[b:b + 1], maps[b].numpy(), classes[b], 7, mode, substrate[b:b + 1])
        np.testing.assert_allclose(ours.scores[b].numpy(), reference, atol=FLOAT32)
        np.testing.assert_allclose(float(ours.auc[b]), auc(reference).item(), atol=FLOAT32)


def test_predicted_classes_by_default():
    model = small_cnn()
    images = seeded_images(4, 1, 8)
    curve = deletion(model, images, untied_maps(4, 8), step=16)
    assert curve.classes.tolist() == model(images).argmax(dim=1).tolist()
    assert curve.scores.shape == (4, 5)


# ------------------------------------------------------------------------- substrates


def rise_blur(images: torch.Tensor, klen: int = 11, nsig: float = 5) -> torch.Tensor:
    """RISE's evaluation.py, ported: ``gkern(klen, nsig)`` (its 3-channel diagonal kernel) and
    ``blur = lambda x: nn.functional.conv2d(x, gkern(klen, nsig), padding=klen // 2)``."""
    inp = np.zeros((klen, klen))
    inp[klen // 2, klen // 2] = 1
    k = gaussian_filter(inp, nsig)
    kern = np.zeros((3, 3, klen, klen))
    kern[0, 0], kern[1, 1], kern[2, 2] = k, k, k
    return nn.functional.conv2d(images, torch.from_numpy(kern.astype("float32")), padding=klen // 2)


def test_blur_substrate_is_rises_blur():
    images = seeded_images(2, 3, 16)
    torch.testing.assert_close(blur_substrate(images), rise_blur(images), atol=1e-6, rtol=0)
    grey = seeded_images(2, 1, 16)  # one channel: RISE's kernel's first channel
    torch.testing.assert_close(blur_substrate(grey), rise_blur(grey.expand(-1, 3, -1, -1))[:, :1], atol=1e-6, rtol=0)
    flat = blur_substrate(torch.full((1, 1, 16, 16), 0.3, dtype=torch.float64))
    kernel = gaussian_filter(np.pad([[1.0]], 5), 5)
    assert float(flat[0, 0, 8, 8]) == pytest.approx(0.3)  # the kernel sums to 1
    assert float(flat[0, 0, 0, 0]) == pytest.approx(0.3 * kernel[5:, 5:].sum())  # zero padding: a dark corner
    assert float(flat[0, 0, 0, 0]) < 0.1


def test_the_docstrings_numbers_about_rises_kernel():
    delta = np.zeros((11, 11))
    delta[5, 5] = 1
    rise = gaussian_filter(delta, 5)  # RISE's gkern(11, 5)
    taps = np.exp(-0.5 * (np.arange(-5, 6) / 5) ** 2)
    sampled = np.outer(taps, taps) / taps.sum() ** 2  # torchvision's gaussian_blur kernel
    np.testing.assert_allclose(gaussian_blur(torch.from_numpy(np.pad(delta, 8))[None, None], [11, 11], [5.0, 5.0])
                               [0, 0, 8:-8, 8:-8].numpy(), sampled, atol=1e-12)
    assert (round(rise.min(), 4), round(rise.max(), 4)) == (0.0077, 0.0088)
    assert (round(sampled.min(), 4), round(sampled.max(), 4)) == (0.0044, 0.0120)
    blurred = blur_substrate(torch.from_numpy(np.pad(delta, 8))[None, None])[0, 0, 8:-8, 8:-8].numpy()
    np.testing.assert_allclose(blurred, rise[::-1, ::-1], atol=1e-12)  # a convolution flips the kernel


# --------------------------------------------------------------------- agreement with Quantus


def test_deletion_agrees_with_quantus_pixel_flipping():
    quantus = pytest.importorskip("quantus")
    model, images, maps = small_cnn(), seeded_images(6, 1, 16), untied_maps(6, 16)
    classes = np.array([0, 1, 2, 3, 4, 0])
    ours = deletion(model, images, maps, classes, step=16)  # 256 / 16 = 16 steps
    metric = quantus.PixelFlipping(features_in_step=16, perturb_baseline=0.0, normalise=False, abs=False,
                                   disable_warnings=True)
    theirs = metric(model=model, x_batch=images.numpy(), y_batch=classes, a_batch=maps[:, None].numpy(),
                    softmax=True, device="cpu")
    np.testing.assert_allclose(np.array(theirs), ours.scores[:, 1:].numpy(), atol=FLOAT32)


# ------------------------------------------------------------- average drop, increase in confidence


def test_confidence_change_by_hand():
    model = sum_model(4)
    images = torch.stack([IMAGE[0], torch.tensor([[[-1.0, 2.0], [3.0, 4.0]]])])
    maps = torch.tensor([[[0.0, 2.0], [2.0, 2.0]]]).expand(2, -1, -1)  # min-max: [[0, 1], [1, 1]]
    result = confidence_change(model, images, maps, [0, 0])
    y, o = torch.sigmoid(torch.tensor([10.0, 8.0])), torch.sigmoid(torch.tensor([9.0, 9.0]))
    torch.testing.assert_close(result.original, y)
    torch.testing.assert_close(result.explained, o)
    assert float(result.average_drop) == pytest.approx(100 * float((y[0] - o[0]) / y[0]) / 2)
    assert float(result.increase_in_confidence) == 50.0


def test_a_constant_map_explains_with_a_black_image():
    model = small_cnn()
    images = seeded_images(2, 1, 8)
    result = confidence_change(model, images, torch.ones(2, 8, 8), [1, 2])
    expected = torch.softmax(model(torch.zeros_like(images)), dim=1)[[0, 1], [1, 2]]
    torch.testing.assert_close(result.explained, expected.detach())


def test_confidence_change_agrees_with_pytorch_grad_cam():
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    model, images, maps = small_cnn(channels=3), seeded_images(5, 3, 12), untied_maps(5, 12)
    classes = [0, 1, 2, 3, 4]
    ours = confidence_change(model, images, maps, classes)
    # pytorch-grad-cam multiplies by the map as given: hand it camlib's min-max normalized maps
    theirs = CamMultImageConfidenceChange()(images, normalize_cams(maps, "minmax").numpy(),
                                            [ClassifierOutputSoftmaxTarget(c) for c in classes], model)
    np.testing.assert_allclose(theirs, (ours.explained - ours.original).numpy(), atol=FLOAT32)
    drop = np.maximum(0, -theirs) / ours.original.numpy()  # its DropInConfidence is absolute: divide by Y
    assert float(ours.average_drop) == pytest.approx(100 * drop.mean(), abs=1e-3)
    assert float(ours.increase_in_confidence) == pytest.approx(100 * (theirs > 0).mean())


# ------------------------------------------------------------------------------------ ROAD


def test_imputation_reproduces_a_linear_ramp_inside_known_borders():
    rows, cols = torch.meshgrid(torch.arange(8.0), torch.arange(8.0), indexing="ij")
    ramp = (0.5 * rows - 0.25 * cols + 1)[None, None].double()
    keep = torch.ones(1, 8, 8, dtype=torch.bool)
    keep[:, 1:-1, 1:-1] = False  # symmetric weights: the mean of a plane's neighbours is the plane
    torch.testing.assert_close(noisy_linear_imputation(ramp, keep, noise=0), ramp)


def test_imputation_keeps_kept_pixels_and_adds_seeded_noise():
    images = seeded_images(3, 2, 9).double()
    keep = torch.rand(3, 9, 9, generator=torch.Generator().manual_seed(2)) < 0.5
    clean = noisy_linear_imputation(images, keep, noise=0)
    noisy = noisy_linear_imputation(images, keep, noise=0.01, generator=torch.Generator().manual_seed(0))
    kept = keep[:, None].expand_as(images)
    assert torch.equal(clean[kept], images[kept]) and torch.equal(noisy[kept], images[kept])
    jitter = (noisy - clean)[~kept]
    assert 0.008 < float(jitter.std()) < 0.012
    again = noisy_linear_imputation(images, keep, noise=0.01, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


PEER_NUMPY_WARNING = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")  # np.argwhere(tensor)


@PEER_NUMPY_WARNING
def test_imputation_agrees_with_pytorch_grad_cams_imputer():
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    images = seeded_images(3, 3, 11)
    keep = torch.rand(3, 11, 11, generator=torch.Generator().manual_seed(3)) < 0.4
    ours = noisy_linear_imputation(images, keep, noise=0)
    for b in range(3):
        theirs = NoisyLinearImputer(noise=0)(images[b], keep[b].float())
        torch.testing.assert_close(ours[b], theirs, atol=1e-6, rtol=0)


@PEER_NUMPY_WARNING
@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_road_agrees_with_pytorch_grad_cam(order):
    pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.metrics.perturbation_confidence import (
        PerturbationConfidenceMetric,
        RemoveLeastRelevantFirst,
        RemoveMostRelevantFirst,
    )
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

    model, images, maps = small_cnn(channels=3), seeded_images(3, 3, 12), untied_maps(3, 12)
    classes, pixels = [1, 2, 3], 144
    remove = RemoveMostRelevantFirst if order == "morf" else RemoveLeastRelevantFirst
    for percentile in (20, 50, 75):  # pytorch-grad-cam: the percent of pixels *kept*
        flat = maps.numpy().reshape(3, -1) if order == "morf" else 1 - maps.numpy().reshape(3, -1)
        kept = {int((m < np.percentile(m, percentile)).sum()) for m in flat}
        assert len(kept) == 1  # maps without ties: the same count for every image
        removed = pixels - kept.pop()
        ours = road(model, images, maps, classes, percentages=[100 * (removed + 0.5) / pixels], order=order,
                    noise=0)
        theirs = PerturbationConfidenceMetric(remove(percentile, NoisyLinearImputer(noise=0)))(
            images, maps.numpy(), [ClassifierOutputSoftmaxTarget(c) for c in classes], model, return_diff=False)
        np.testing.assert_allclose(ours.scores[:, 0].numpy(), theirs, atol=FLOAT32)


def test_road_counts_and_orders():
    model = sum_model(16)  # logit = the sum of the pixels, after imputation
    images = torch.zeros(1, 1, 4, 4)
    maps = torch.arange(16.0).view(1, 4, 4)  # most salient: the last pixels
    result = road(model, images, maps, [0], percentages=(0, 25, 50.5), noise=0, score="logit")
    torch.testing.assert_close(result.scores, torch.zeros(1, 3))  # zeros imputed from zeros
    assert result.percentages.tolist() == [0.0, 25.0, 50.5]
    assert result.hits.shape == (1, 3)
    images = torch.ones(1, 1, 4, 4)
    images[..., 3, :] = 5.0  # the most salient row
    morf = road(model, images, maps, [0], percentages=(25,), noise=0, score="logit").scores
    lerf = road(model, images, maps, [0], percentages=(25,), noise=0, order="lerf", score="logit").scores
    assert float(morf) == pytest.approx(16)  # MoRF: the bright last row becomes the 1s of its neighbours
    assert float(lerf) == pytest.approx(32)  # LeRF: the first row (1s) is imputed from 1s


# --------------------------------------------------------------- batching, chunks, dtypes, modes


def test_batched_equals_one_image_at_a_time():
    model, images, maps = small_cnn(channels=3), seeded_images(4, 3, 10), untied_maps(4, 10)
    classes = [4, 3, 2, 1]
    runs = [
        lambda i, m, c, **k: deletion(model, i, m, c, step=9, **k).scores,
        lambda i, m, c, **k: insertion(model, i, m, c, step=9, substrate=blur_substrate(i, 5, 2.0), **k).scores,
        lambda i, m, c, **k: road(model, i, m, c, percentages=(30, 60), noise=0, **k).scores,
        lambda i, m, c, **k: confidence_change(model, i, m, c, **k).explained,
    ]
    for run in runs:
        together = run(images, maps, classes, batch_size=7)
        for b in range(4):
            alone = run(images[b:b + 1], maps[b:b + 1], classes[b:b + 1], batch_size=1000)
            torch.testing.assert_close(together[b:b + 1], alone, atol=FLOAT32, rtol=0)


def test_float64_matches_float32():
    model = small_cnn(channels=3)
    images, maps = seeded_images(3, 3, 10), untied_maps(3, 10)
    single = deletion(model, images, maps, [0, 1, 2], step=5)
    double = deletion(model.double(), images.double(), maps.double(), [0, 1, 2], step=5)
    assert double.scores.dtype == torch.float64
    torch.testing.assert_close(double.scores.float(), single.scores, atol=FLOAT32, rtol=0)
    single_road = road(model.float(), images, maps, [0, 1, 2], percentages=(40,), noise=0).scores
    double_road = road(model.double(), images.double(), maps.double(), [0, 1, 2], percentages=(40,), noise=0).scores
    torch.testing.assert_close(double_road.float(), single_road, atol=FLOAT32, rtol=0)


def test_model_runs_in_eval_mode_and_keeps_its_flags():
    model = small_cnn().train()
    statistics = [buffer.clone() for buffer in model.buffers()]
    images, maps = seeded_images(2, 1, 8), untied_maps(2, 8)
    deletion(model, images, maps, step=16, progress=True)
    road(model, images, maps, percentages=(50,), progress=True)
    confidence_change(model, images, maps)
    assert model.training and all(module.training for module in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(statistics, model.buffers()))  # BatchNorm statistics untouched


class ViewsItsConvOutput(nn.Module):
    """A conv net whose head uses ``.view``, which a channels_last conv output refuses."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.linear = nn.Conv2d(2, 3, 3, padding=1), nn.Linear(3 * 8 * 8, 4)

    def forward(self, images):
        features = self.conv(images)
        return self.linear(features.view(len(features), -1))


def test_channels_last_on_cpu_holds_conv_weights_in_that_layout_and_puts_them_back():
    model, images = small_cnn(), seeded_images(2, 1, 8)
    kernels = [p for p in model.parameters() if p.dim() == 4]
    before = [(p, p.data_ptr(), p.detach().clone()) for p in kernels]
    with torch.no_grad(), eval_mode(model), channels_last_on_cpu(model, images) as converted:
        assert converted
        assert all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels)
        assert not all(p.is_contiguous() for p in kernels)  # one input channel: both layouts are the same
        fast = model(images)
    assert all(p is q and p.data_ptr() == pointer and torch.equal(p, values) and p.is_contiguous()
               for (p, pointer, values), q in zip(before, [p for p in model.parameters() if p.dim() == 4]))
    torch.testing.assert_close(fast, model(images).detach(), atol=FLOAT32, rtol=0)


def test_channels_last_on_cpu_leaves_alone_what_it_cannot_speed_up():
    viewing, images = ViewsItsConvOutput().eval(), seeded_images(3, 2, 8)
    linear = sum_model(64)
    with torch.no_grad():
        with channels_last_on_cpu(viewing, images) as converted:
            assert not converted and viewing.conv.weight.is_contiguous()
            viewing(images)  # runs as built
        with pytest.raises(ValueError) as raised, channels_last_on_cpu(viewing, images):
            raise ValueError("an error of the caller's")
        assert raised.value.__context__ is None  # not chained to the failed probe
        with channels_last_on_cpu(linear, images[:, :1]) as converted:
            assert not converted  # no conv weights
        with channels_last_on_cpu(viewing, "not images") as converted:
            assert not converted  # the metrics' own checks name the problem afterwards
    maps = untied_maps(3, 8)
    curve = deletion(viewing, images, maps, step=16)
    expected = torch.softmax(viewing(torch.zeros_like(images)), dim=1).gather(1, curve.classes[:, None])[:, 0]
    torch.testing.assert_close(curve.scores[:, -1], expected.detach(), atol=FLOAT32, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_results_follow_the_images_device():
    device = torch.device("cuda")
    model, images, maps = small_cnn().to(device), seeded_images(2, 1, 8).to(device), untied_maps(2, 8)
    assert deletion(model, images, maps, step=16).scores.device.type == "cuda"
    assert road(model, images, maps, percentages=(50,)).scores.device.type == "cuda"


# ------------------------------------------------------------------------------------ errors


@pytest.fixture
def inputs():
    return small_cnn(), seeded_images(2, 1, 8), untied_maps(2, 8)


def test_maps_that_do_not_fit_the_images(inputs):
    model, images, maps = inputs
    with pytest.raises(ValueError, match="camlib.methods.cam.upsample_cams"):
        deletion(model, images, maps[:, :4, :4])
    with pytest.raises(ValueError, match="3 maps for 2 images"):
        insertion(model, images, untied_maps(3, 8))
    with pytest.raises(ValueError, match=r"maps.squeeze\(1\)"):
        road(model, images, maps[:, None])
    with pytest.raises(ValueError, match="pick the explained class's map"):
        confidence_change(model, images, maps[:, None].expand(-1, 5, -1, -1))
    with pytest.raises(TypeError, match="torch.as_tensor"):
        deletion(model, images, maps.numpy())
    bad = maps.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        deletion(model, images, bad)
    assert deletion(model, images, upsample_cams(maps[:, :4, :4], (8, 8)), step=64).scores.shape == (2, 2)


def test_classes_out_of_range_or_of_the_wrong_length(inputs):
    model, images, maps = inputs
    with pytest.raises(ValueError, match="out of range"):
        deletion(model, images, maps, [0, 5])
    with pytest.raises(ValueError, match="one class index per image"):
        road(model, images, maps, [0])
    with pytest.raises(ValueError, match="integer class indices"):
        confidence_change(model, images, maps, [0.5, 1.0])


@pytest.mark.parametrize("step", [0, -3, 1.5, True])
def test_step_must_be_a_positive_int(inputs, step):
    with pytest.raises(ValueError, match="number of pixels changed per step"):
        deletion(*inputs, step=step)


def test_a_model_that_does_not_return_class_scores(inputs):
    _, images, maps = inputs

    class Pooled(nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3))

    with pytest.raises(ValueError, match=r"logits \[B, num_classes\]"):
        deletion(Pooled(), images, maps)
    with pytest.raises(ValueError, match=r"logits \[B, num_classes\]"):
        road(Pooled(), images, maps)


def test_other_arguments_are_refused_by_name(inputs):
    model, images, maps = inputs
    with pytest.raises(ValueError, match="score='prob'"):
        deletion(model, images, maps, score="prob")
    with pytest.raises(ValueError, match="substrate='mean'"):
        insertion(model, images, maps, substrate="mean")
    with pytest.raises(ValueError, match="does not broadcast"):
        deletion(model, images, maps, substrate=torch.zeros(3, 8, 8))
    assert insertion(model, images[..., :4, :4], maps[:, :4, :4]).scores.shape[1] == 17  # RISE's blur fits any size
    with pytest.raises(ValueError, match=r"in \[0, 100\)"):
        road(model, images, maps, percentages=(50, 100))
    with pytest.raises(ValueError, match="order='most'"):
        road(model, images, maps, order="most")
    with pytest.raises(ValueError, match="noise=-1"):
        road(model, images, maps, noise=-1)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        confidence_change(model, images, maps, batch_size=0)
    with pytest.raises(ValueError, match="keeps none of its pixels"):
        noisy_linear_imputation(images, torch.zeros(2, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool tensor"):
        noisy_linear_imputation(images, torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match="images of shape"):
        deletion(model, torch.rand(2, 3, 8, 8), maps)  # a 1-channel network given RGB images


# --------------------------------------------------------------- hostile input, round two


def test_a_seeded_road_does_not_depend_on_batch_size():
    model, images, maps = small_cnn(), seeded_images(3, 1, 10), untied_maps(3, 10)
    runs = [road(model, images, maps, [0, 1, 2], percentages=(20, 50, 80), noise=0.05,
                 generator=torch.Generator().manual_seed(7), batch_size=size).scores for size in (1, 4, 256)]
    for scores in runs[1:]:
        torch.testing.assert_close(scores, runs[0], atol=FLOAT32, rtol=0)  # float32 batching only
    other = road(model, images, maps, [0, 1, 2], percentages=(20, 50, 80), noise=0.05,
                 generator=torch.Generator().manual_seed(8)).scores
    assert not torch.equal(other, runs[0])  # the seed still matters


def test_road_takes_percentages_as_an_array_or_a_tensor():
    model, images, maps = small_cnn(), seeded_images(2, 1, 10), untied_maps(2, 10)
    listed = road(model, images, maps, [0, 1], percentages=[10, 20, 30], noise=0).scores
    for given in (np.arange(10, 40, 10), torch.arange(10, 40, 10)):
        torch.testing.assert_close(road(model, images, maps, [0, 1], percentages=given, noise=0).scores, listed)


def test_a_model_that_already_returns_probabilities_is_warned_about():
    net = small_cnn()
    probabilities = nn.Sequential(net, nn.Softmax(dim=1))
    images, maps = seeded_images(2, 1, 8), untied_maps(2, 8)
    with pytest.warns(UserWarning, match="returns probabilities .* score='logit'"):
        deletion(probabilities, images, maps, [0, 1], step=16)
    with pytest.warns(UserWarning, match="returns probabilities"):
        road(probabilities, images, maps, [0, 1], percentages=(50,), noise=0)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        deletion(net, images, maps, [0, 1], step=16)  # logits: no warning
        deletion(probabilities, images, maps, [0, 1], step=16, score="logit")  # the outputs as they are


def test_ragged_curves_and_an_empty_imputation_say_so_or_give_nothing():
    with pytest.raises(ValueError, match="same number of points"):
        auc([[1.0, 0.5, 0.0], [1.0, 0.0]])
    empty = torch.zeros(0, 1, 8, 8)
    assert noisy_linear_imputation(empty, torch.ones(0, 8, 8, dtype=torch.bool)).shape == (0, 1, 8, 8)

"""camlib.metrics.sanity: model and data randomization (Adebayo et al., NeurIPS 2018) and map similarities.

The model randomization is checked against Quantus 0.6's MPRT on the same tiny network and the
same explanation function: with Quantus's seeding reproduced (``seed=42 + 1, same_seed=True``)
the randomized models are identical, and so are the Spearman correlations (measured: equal to
the last bit; asserted within 1e-12).
"""

from __future__ import annotations

import copy
import functools
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch.utils.data import TensorDataset

from camlib import config
from camlib.data import DigitDataset
from camlib.lab.mnist_recipe import checkpoint_path
from camlib.methods.attribution import attribution_maps
from camlib.metrics.sanity import (
    ORIGINAL,
    ShuffledLabels,
    cascading_randomization,
    independent_randomization,
    randomizable_layers,
    randomization_similarities,
    shuffled_labels,
    spearman_similarity,
    ssim_similarity,
)
from camlib.models import GAPNet

GRADIENT = functools.partial(attribution_maps, "gradient")
GRAD_CAM = functools.partial(attribution_maps, "grad_cam", layer="features", relu=False)


def _tiny() -> GAPNet:
    """A tiny GAPNet whose BatchNorm statistics are not the identity, so resetting them shows."""
    torch.manual_seed(0)
    model = GAPNet(in_channels=1, num_classes=3, widths=(4, 8), downsample=1).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    return model


def _data():
    generator = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 8, 8, generator=generator), torch.tensor([0, 1, 2, 0, 1, 2])


def test_randomizable_layers_top_down():
    model = _tiny()
    layers = randomizable_layers(model)
    assert layers == ["classifier", "features.10", "features.7", "features.3", "features.0"]
    everything = randomizable_layers(model, include_norm=True)
    quantus_order = [name for name, m in model.named_modules() if hasattr(m, "reset_parameters")][::-1]
    assert everything == quantus_order and set(layers) < set(everything)


def test_cascading_randomization_leaves_the_callers_model_alone_and_changes_the_maps():
    model, (images, classes) = _tiny().train(), _data()
    state, rng = copy.deepcopy(model.state_dict()), torch.random.get_rng_state()
    results = cascading_randomization(model, randomizable_layers(model), GRADIENT, images, classes, seed=3)
    assert list(results) == [ORIGINAL, *randomizable_layers(model)]
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())
    assert model.training and all(m.training for m in model.modules())
    assert torch.equal(torch.random.get_rng_state(), rng)
    torch.testing.assert_close(results[ORIGINAL], GRADIENT(model, images, classes))
    for name, maps in results.items():
        assert maps.shape == (6, 8, 8), name
        if name != ORIGINAL:
            assert not torch.allclose(maps, results[ORIGINAL]), f"randomizing {name} left the maps unchanged"
    again = cascading_randomization(model, randomizable_layers(model), GRADIENT, images, classes, seed=3)
    assert all(torch.equal(again[name], results[name]) for name in results)  # seeded


def test_independent_randomization_resets_one_layer_at_a_time():
    model, (images, classes) = _tiny(), _data()
    layers = randomizable_layers(model)
    cascading = cascading_randomization(model, layers, GRAD_CAM, images, classes, seed=5)
    independent = independent_randomization(model, layers, GRAD_CAM, images, classes, seed=5)
    assert torch.equal(cascading[layers[0]], independent[layers[0]])  # the first step is the same
    last = copy.deepcopy(model)
    with torch.random.fork_rng():
        torch.manual_seed(5 + len(layers) - 1)
        last.get_submodule(layers[-1]).reset_parameters()
    torch.testing.assert_close(independent[layers[-1]], GRAD_CAM(last, images, classes))


def test_classes_default_to_the_trained_models_predictions():
    model, (images, _) = _tiny(), _data()
    predicted = model(images).argmax(dim=1)
    by_default = cascading_randomization(model, ["classifier"], GRADIENT, images, seed=0)
    given = cascading_randomization(model, ["classifier"], GRADIENT, images, predicted, seed=0)
    assert all(torch.equal(by_default[name], given[name]) for name in given)


def test_similarities_of_identical_opposite_and_constant_maps():
    maps = torch.randn(3, 9, 9, generator=torch.Generator().manual_seed(0))
    ones = torch.ones(3, dtype=torch.float64)
    torch.testing.assert_close(spearman_similarity(maps, maps), ones, rtol=0, atol=1e-12)  # 1 - 1e-16 in floats
    torch.testing.assert_close(ssim_similarity(maps, maps), ones, rtol=0, atol=1e-12)
    torch.testing.assert_close(spearman_similarity(maps, 3 * maps + 1), ones)
    torch.testing.assert_close(spearman_similarity(maps, -maps), -ones)
    torch.testing.assert_close(spearman_similarity(maps, -maps, absolute=True), ones)
    other = torch.rand(3, 9, 9, generator=torch.Generator().manual_seed(1))
    expected = [spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(maps.numpy(), other.numpy(), strict=True)]
    np.testing.assert_allclose(spearman_similarity(maps, other).numpy(), expected, rtol=0, atol=1e-15)
    constant = maps.clone()
    constant[1] = 0.0  # e.g. a Grad-CAM that the ReLU zeroed: no ranking, no structure
    for similarity in (spearman_similarity, ssim_similarity):
        values = similarity(maps, constant)
        assert math.isnan(values[1]) and not torch.isnan(values[[0, 2]]).any(), similarity.__name__


def test_a_mask_ranks_only_its_pixels_and_tied_zeros_outside_it_no_longer_count():
    generator = torch.Generator().manual_seed(3)
    ink = torch.zeros(2, 10, 10, dtype=torch.bool)
    ink[:, 3:7, 3:7] = True  # a 4x4 "digit" on a black background
    a = torch.where(ink, torch.rand(2, 10, 10, generator=generator), 0.0)
    b = torch.where(ink, torch.rand(2, 10, 10, generator=generator), 0.0)  # unrelated values on the same ink
    everywhere = spearman_similarity(a, b)
    on_ink = spearman_similarity(a, b, mask=ink)
    expected = [spearmanr(x[m], y[m])[0] for x, y, m in zip(a.numpy(), b.numpy(), ink.numpy(), strict=True)]
    np.testing.assert_allclose(on_ink.numpy(), expected, rtol=0, atol=1e-15)
    assert (everywhere > 0.7).all() and (on_ink.abs() < everywhere - 0.5).all(), (everywhere, on_ink)
    torch.testing.assert_close(spearman_similarity(a, b, mask=ink[0]), on_ink)  # [H, W] is shared
    one_pixel = torch.zeros(10, 10, dtype=torch.bool)
    one_pixel[5, 5] = True
    assert torch.isnan(spearman_similarity(a, b, mask=one_pixel)).all()
    with pytest.raises(ValueError, match="mask must be boolean"):
        spearman_similarity(a, b, mask=ink.float())
    with pytest.raises(ValueError, match=r"does not fit maps of shape \[2, 10, 10\]"):
        spearman_similarity(a, b, mask=ink[:, :5])


def test_ssim_normalizes_each_map_to_the_unit_range():
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(ssim_similarity(maps, 5 * maps - 2), torch.ones(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="7x7 window needs maps of at least 7x7, got 4x4"):
        ssim_similarity(maps[:, :4, :4], maps[:, :4, :4])


def test_randomization_similarities_compare_with_the_original():
    model, (images, classes) = _tiny(), _data()
    results = cascading_randomization(model, ["classifier", "features.10"], GRADIENT, images, classes)
    similarities = randomization_similarities(results)
    assert list(similarities) == list(results)
    torch.testing.assert_close(similarities[ORIGINAL], torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-12)
    assert all(float(values.max()) < 1 for name, values in similarities.items() if name != ORIGINAL)


@pytest.mark.parametrize(("method", "order", "absolute"), [
    (GRADIENT, "top_down", False),
    (GRAD_CAM, "top_down", False),
    (GRAD_CAM, "independent", True),
])
def test_spearman_similarities_agree_with_quantus_mprt(method, order, absolute):
    import quantus

    model, (images, classes) = _tiny(), _data()

    def explain(model, inputs, targets, **_):
        return method(model, torch.as_tensor(inputs), torch.as_tensor(targets)).numpy()

    # Quantus 0.6 re-seeds torch.manual_seed(seed + 1) before every layer's reset_parameters();
    # abs=True, normalise=True (its defaults) take |map| and divide it by its maximum: ranks unchanged
    mprt = quantus.MPRT(layer_order=order, seed=42, abs=absolute, normalise=absolute, disable_warnings=True)
    theirs = mprt(model=model, x_batch=images.numpy(), y_batch=classes.numpy(), explain_func=explain,
                  device="cpu", batch_size=len(images))
    # its top_down order is ours; "independent" goes through the layers in registration order
    layers = randomizable_layers(model, include_norm=True)
    randomize, layers = ((cascading_randomization, layers) if order == "top_down"
                         else (independent_randomization, layers[::-1]))
    ours = randomize(model, layers, method, images, classes, seed=43, same_seed=True)
    similarities = randomization_similarities(ours, absolute=absolute)
    assert list(theirs) == list(similarities)
    for name, values in theirs.items():
        np.testing.assert_allclose(similarities[name].numpy(), values, rtol=0, atol=1e-12, err_msg=name)
    assert float(similarities["features.0"].abs().max()) < 0.99  # the maps did change (measured: 0.96 at most)


def test_shuffled_labels_permute_the_labels_only():
    images, labels = torch.rand(20, 6, 6), torch.arange(20) % 4
    digits = DigitDataset(images, labels, ["a", "b", "c", "d"], "test digits")
    shuffled = shuffled_labels(digits, seed=3)
    assert isinstance(shuffled, DigitDataset) and torch.equal(shuffled.images, digits.images)
    assert torch.equal(shuffled.labels.sort().values, labels.sort().values)  # same class frequencies
    assert not torch.equal(shuffled.labels, labels) and shuffled.source == "test digits (labels shuffled, seed 3)"
    assert torch.equal(shuffled_labels(digits, seed=3).labels, shuffled.labels)
    assert not torch.equal(shuffled_labels(digits, seed=4).labels, shuffled.labels)
    view = shuffled_labels(TensorDataset(images, labels), seed=3)
    assert isinstance(view, ShuffledLabels) and len(view) == 20
    assert torch.equal(torch.tensor([view[i][1] for i in range(20)]), shuffled.labels)
    assert torch.equal(view[5][0], images[5])


def test_shuffled_label_networks_get_their_own_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMLIB_CHECKPOINTS", str(tmp_path))
    true = checkpoint_path("gapnet", config.Profile("quick"))
    assert checkpoint_path("gapnet", config.Profile("quick"), labels="true") == true
    assert checkpoint_path("gapnet", config.Profile("quick"), labels="shuffled").name == \
        "mnist_gapnet_quick_shuffled-labels_seed0.pt"
    with pytest.raises(ValueError, match=r"labels='random': use one of \('true', 'shuffled'\)"):
        checkpoint_path("gapnet", "quick", labels="random")


def test_clear_errors():
    model, (images, classes) = _tiny(), _data()
    with pytest.raises(ValueError, match=r"'layer4' is not a module of GAPNet.*\['classifier'"):
        cascading_randomization(model, ["layer4"], GRADIENT, images, classes)
    with pytest.raises(ValueError, match="must be distinct"):
        cascading_randomization(model, ["classifier", "classifier"], GRADIENT, images, classes)
    with pytest.raises(ValueError, match="non-empty list"):
        cascading_randomization(model, "classifier", GRADIENT, images, classes)
    with pytest.raises(ValueError, match=r"must return maps \[B, H, W\].*'original' it returned \[6, 1, 8, 8\]"):
        cascading_randomization(model, ["classifier"], lambda m, x, c: x, images, classes)
    with pytest.raises(ValueError, match="class index out of range"):
        cascading_randomization(model, ["classifier"], GRADIENT, images, classes + 5)
    with pytest.raises(ValueError, match="same shape|one shape"):
        spearman_similarity(torch.zeros(2, 8, 8), torch.zeros(2, 7, 7))


def test_a_seed_too_large_or_negative_is_refused_before_any_map_is_computed():
    model, (images, labels) = _tiny(), _data()
    calls = []

    def counting(net, batch, classes):
        calls.append(1)
        return GRADIENT(net, batch, classes)

    for seed in (2**64, 2**63 - 2, -1):
        with pytest.raises(ValueError, match="seed"):
            cascading_randomization(model, randomizable_layers(model), counting, images, labels, seed=seed)
    assert not calls


def test_shuffled_labels_of_a_dataset_without_labels_says_so():
    from torch.utils.data import Dataset

    class ImagesOnly(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, index):
            return torch.zeros(1, 8, 8)

    with pytest.raises(TypeError, match=r"not an \(image, label\) pair"):
        shuffled_labels(ImagesOnly())
    with pytest.raises(TypeError, match=r"not an \(image, label\) pair"):
        shuffled_labels(TensorDataset(torch.zeros(3, 1, 8, 8)))

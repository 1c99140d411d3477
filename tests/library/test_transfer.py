"""camlib.methods.transfer: frozen GAP features, linear models on them, and their CAMs (notebook 06)."""

import numpy as np
import pytest
import torch
import torchvision
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC
from torch import nn

from camlib.methods.transfer import gap_features, linear_cams, linear_weights
from camlib.models import GAPNet

# Two channels on a 2x2 grid, by hand: f_0 = [[1, 2], [3, 4]], f_1 = [[0, 0], [0, 4]].
MAPS = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 4.0]]]])
WEIGHT = torch.tensor([[1.0, -1.0], [0.5, 2.0]])
BIAS = torch.tensor([0.25, -1.0])
# class 0: f_0 - f_1 = [[1, 2], [3, 0]], mean 1.5; class 1: 0.5 f_0 + 2 f_1 = [[0.5, 1], [1.5, 10]], mean 3.25
EXPECTED = torch.tensor([[[[1.0, 2.0], [3.0, 0.0]], [[0.5, 1.0], [1.5, 10.0]]]], dtype=torch.float64)


def test_linear_cams_by_hand_and_the_decision_value_identity():
    cams = linear_cams(MAPS, WEIGHT, BIAS)
    torch.testing.assert_close(cams, EXPECTED)
    weight, bias = linear_weights(WEIGHT, BIAS)
    decision = MAPS.double().mean(dim=(2, 3)) @ weight.T + bias
    torch.testing.assert_close(cams.mean(dim=(2, 3)) + bias, decision)
    torch.testing.assert_close(decision, torch.tensor([[1.75, 2.25]], dtype=torch.float64))


def features_and_labels(seed=0, n=120, k=6, classes=3):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    centres = rng.normal(size=(classes, k)) * 3
    return centres[labels] + rng.normal(size=(n, k)), labels


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("make", [
    lambda: LinearSVC(C=1.0, max_iter=5000),
    lambda: LogisticRegression(max_iter=1000),
    lambda: make_pipeline(StandardScaler(), LinearSVC(max_iter=5000)),
    lambda: make_pipeline(StandardScaler(with_mean=False), LogisticRegression(max_iter=1000)),
], ids=["svm", "logreg", "scaler+svm", "scaler-no-mean+logreg"])
def test_linear_weights_give_scikit_learns_decision_function(make, classes):
    x, y = features_and_labels(classes=classes)
    model = make().fit(x, y)
    weight, bias = linear_weights(model)
    assert weight.dtype == torch.float64 and weight.shape == (1 if classes == 2 else classes, x.shape[1])
    decision = torch.as_tensor(model.decision_function(x), dtype=torch.float64).reshape(len(x), -1)
    torch.testing.assert_close(torch.as_tensor(x) @ weight.T + bias, decision, rtol=1e-9, atol=1e-9)


def test_linear_weights_read_tensors_arrays_and_nn_linear():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(WEIGHT)
        layer.bias.copy_(BIAS)
    for source in (layer, (WEIGHT.numpy(), BIAS.numpy()), (WEIGHT.tolist(), BIAS.tolist())):
        weight, bias = linear_weights(source) if isinstance(source, nn.Module) else linear_weights(*source)
        torch.testing.assert_close(weight, WEIGHT.double())
        torch.testing.assert_close(bias, BIAS.double())
    weight, bias = linear_weights(torch.tensor([1.0, 2.0]))  # one class, no intercept
    assert weight.shape == (1, 2) and bias.tolist() == [0.0]


def test_linear_weights_and_cams_name_what_is_wrong():
    with pytest.raises(ValueError, match="K=2 channels but the linear model was fitted on 3 features"):
        linear_cams(MAPS, torch.ones(4, 3))
    with pytest.raises(ValueError, match=r"maps must be a \[B, K, h, w\] tensor"):
        linear_cams(MAPS[0], WEIGHT)
    with pytest.raises(ValueError, match="one per class"):
        linear_weights(WEIGHT, torch.zeros(3))
    with pytest.raises(ValueError, match="NaN or infinite"):
        linear_weights(torch.tensor([[float("nan"), 1.0]]))
    with pytest.raises(TypeError, match="weight"):
        linear_weights(None)
    x, y = features_and_labels()
    with pytest.raises(TypeError, match="only StandardScaler steps"):
        linear_weights(make_pipeline(MinMaxScaler(), LinearSVC(max_iter=5000)).fit(x, y))


def tiny_gapnet():
    torch.manual_seed(0)
    return GAPNet(in_channels=1, num_classes=4, widths=(4, 8))


def test_gap_features_are_the_mean_of_the_maps_and_restore_the_mode():
    model = tiny_gapnet().train()
    images = torch.rand(10, 1, 16, 16)
    out = gap_features(model, images, batch_size=3, keep_maps=True)
    assert model.training  # put back
    with torch.no_grad():
        logits, maps = model.eval().forward_with_maps(images)
    torch.testing.assert_close(out.maps, maps)
    torch.testing.assert_close(out.features, maps.mean(dim=(2, 3)))
    torch.testing.assert_close(model.classifier(out.features), logits, rtol=1e-5, atol=1e-5)
    assert out.labels is None


def test_gap_features_of_a_data_set_keep_its_labels():
    images, labels = torch.rand(7, 1, 16, 16), torch.arange(7) % 4
    data = torch.utils.data.TensorDataset(images, labels)
    out = gap_features(tiny_gapnet(), data, batch_size=4)
    assert out.features.shape == (7, 8) and out.labels.tolist() == labels.tolist() and out.maps is None
    loader = torch.utils.data.DataLoader(data, batch_size=5)
    torch.testing.assert_close(gap_features(tiny_gapnet(), loader).features, out.features)


def test_gap_features_of_a_torchvision_resnet_and_the_cam_of_its_own_head():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=5).eval()
    images = torch.rand(2, 3, 64, 64)
    out = gap_features(model, images, keep_maps=True)
    with torch.no_grad():
        logits = model(images)
    assert out.maps.shape == (2, 512, 2, 2)
    torch.testing.assert_close(model.fc(out.features), logits, rtol=1e-4, atol=1e-4)
    cams = linear_cams(out.maps, model.fc)  # the network's own head: its CAM, mean + bias = logits
    torch.testing.assert_close((cams.mean(dim=(2, 3)) + model.fc.bias.double()).float(), logits, rtol=1e-4, atol=1e-4)
    assert not model._forward_hooks and not model.avgpool._forward_hooks  # the hook is gone


def test_gap_features_refuse_what_is_not_a_gap_network_or_images():
    with pytest.raises(TypeError, match="no GAP \\+ linear head"):
        gap_features(torchvision.models.alexnet(weights=None), torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"images must be \[N, C, H, W\]"):
        gap_features(tiny_gapnet(), torch.rand(16, 16))
    with pytest.raises(ValueError, match="no image"):
        gap_features(tiny_gapnet(), torch.rand(0, 1, 16, 16))
    with pytest.raises(TypeError, match="nn.Module"):
        gap_features("model", torch.rand(1, 1, 16, 16))


def test_linear_weights_refuses_one_vs_one_svc_and_names_linear_svc():
    from sklearn.svm import SVC, NuSVC
    features, labels = features_and_labels(classes=3)
    for model in (SVC(kernel="linear"), NuSVC(kernel="linear", nu=0.1)):
        with pytest.raises(ValueError, match=r"one-vs-one.*LinearSVC"):
            linear_weights(model.fit(features, labels))
    binary = SVC(kernel="linear").fit(features, labels % 2)  # two classes: one row, its decision value
    weight, bias = linear_weights(binary)
    decision = (weight.numpy() @ features.T + bias.numpy()[:, None])[0]
    np.testing.assert_allclose(decision, binary.decision_function(features), rtol=1e-6, atol=1e-9)


def test_linear_weights_of_an_unfitted_or_non_linear_model_says_so():
    from sklearn.svm import SVC
    features, labels = features_and_labels()
    with pytest.raises(TypeError, match="fit it first"):
        linear_weights(LinearSVC())
    with pytest.raises(TypeError, match="not linear"):
        linear_weights(make_pipeline(StandardScaler(), SVC(kernel="rbf")).fit(features, labels))


def test_linear_weights_are_copies_and_bias_beside_a_model_is_refused():
    import warnings

    from sklearn.svm import SVC
    layer = nn.Linear(4, 3).double()
    before = layer.weight.detach().clone()
    weight, bias = linear_weights(layer)
    weight.mul_(0)
    bias.add_(1)
    assert torch.equal(layer.weight.detach(), before)  # normalizing the copy leaves the classifier alone
    features, labels = features_and_labels()
    svm = LinearSVC(dual=False).fit(features, labels)
    weight, _ = linear_weights(svm)
    weight.zero_()
    assert np.abs(svm.coef_).sum() > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # SVC's coef_ is read-only: no "not writable" warning
        linear_weights(SVC(kernel="linear").fit(features, labels % 2))
    for model in (layer, svm):
        with pytest.raises(ValueError, match="carries its own intercepts"):
            linear_weights(model, bias=torch.zeros(3))


def test_gap_features_checks_the_images_whatever_network_reads_them():
    network = torchvision.models.resnet18(weights=None, num_classes=3).eval()
    with pytest.raises(ValueError, match="floating point"):
        gap_features(network, torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        gap_features(network, torch.full((2, 3, 32, 32), float("nan")))
    assert gap_features(network, torch.rand(2, 3, 32, 32)).features.shape == (2, 512)

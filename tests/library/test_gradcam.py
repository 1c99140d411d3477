"""Grad-CAM, guided backpropagation and Guided Grad-CAM: hand cases, the CAM equivalence,
the peers, and hygiene (hooks, grads, modes)."""

import copy

import pytest
import torch
from torch import nn

from camlib.methods.cam import class_activation_maps, normalize_cams, upsample_cams
from camlib.methods.gradcam import grad_cam, guided_backprop, guided_grad_cam
from camlib.models import GAPNet

# A: two 2x2 maps; the head is flatten + linear with W[c] = one weight per (k, x, y).
A = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]])[None]  # [1, 2, 2, 2]
W = torch.tensor([
    [1.0, 0.0, 0.0, 1.0, 2.0, 2.0, -2.0, 2.0],  # class 0: alpha = (0.5, 1.0)
    [-1.0, -1.0, -1.0, -1.0, 4.0, 0.0, 0.0, 0.0],  # class 1: alpha = (-1.0, 1.0)
])


def hand_model() -> nn.Sequential:
    head = nn.Linear(8, 2, bias=False)
    head.weight.data.copy_(W)
    return nn.Sequential(nn.Identity(), nn.Flatten(), head)


def random_gapnet(seed=0, **kwargs) -> GAPNet:
    torch.manual_seed(seed)
    model = GAPNet(in_channels=1, num_classes=5, widths=(4, 8, 8), **kwargs)
    for module in model.modules():  # non-trivial BatchNorm statistics, as after training
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def hooks_of(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_hand_computed_maps():
    model = hand_model()
    # class 0: 0.5 * A0 + 1.0 * A1
    assert torch.equal(grad_cam(model, model[0], A, [0]), torch.tensor([[[0.5, 2.0], [2.5, 2.0]]]))
    # class 1: -A0 + A1, negative everywhere: zero after the ReLU, kept without it
    assert torch.equal(grad_cam(model, model[0], A, [1]), torch.zeros(1, 2, 2))
    assert torch.equal(grad_cam(model, model[0], A, [1], relu=False), torch.tensor([[[-1.0, -1.0], [-2.0, -4.0]]]))
    # counterfactual: negated gradients, so class 1's map becomes A0 - A1
    assert torch.equal(grad_cam(model, model[0], A, [1], counterfactual=True), torch.tensor([[[1.0, 1.0], [2.0, 4.0]]]))


def test_default_class_is_the_prediction():
    model = hand_model()
    assert model(A).argmax() == 0  # scores: 5 + 4 = 9 against -10 + 1 = -9
    assert torch.equal(grad_cam(model, "0", A), grad_cam(model, model[0], A, [0]))


@pytest.mark.parametrize("size", [(28, 28), (16, 28)])
def test_grad_cam_is_relu_cam_over_z_on_gap_networks(size):
    model = random_gapnet()
    images = torch.randn(6, 1, *size)
    with torch.no_grad():
        logits, maps = model.forward_with_maps(images)
    z = maps.shape[-2] * maps.shape[-1]
    for classes in (None, torch.tensor([0, 1, 2, 3, 4, 0])):
        chosen = logits.argmax(1) if classes is None else classes
        expected = class_activation_maps(maps, model.classifier.weight.detach(), chosen).clamp_min(0) / z
        assert torch.allclose(grad_cam(model, model.features, images, classes), expected, atol=1e-6)


def test_in_place_relu_after_the_layer_gives_the_out_of_place_map():
    model = random_gapnet()
    out_of_place = copy.deepcopy(model)
    for module in out_of_place.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False
    images = torch.randn(4, 1, 28, 28)
    bn_index = len(model.features) - 2  # the last BatchNorm; an in-place ReLU follows it
    assert isinstance(model.features[bn_index], nn.BatchNorm2d) and model.features[bn_index + 1].inplace
    with torch.no_grad():
        activation = model.features[: bn_index + 1](images)
    assert activation.lt(0).any(), "the BatchNorm output has negative values an in-place ReLU would erase"
    maps = grad_cam(model, model.features[bn_index], images, relu=False)
    reference = grad_cam(out_of_place, out_of_place.features[bn_index], images, relu=False)
    assert torch.allclose(maps, reference, atol=1e-6)


def test_no_hooks_no_parameter_grads_and_modes_restored():
    model = random_gapnet()
    model.train()
    model.features[1].eval()  # a mixed state must come back as it was
    modes = [m.training for m in model.modules()]
    stats = model.features[1].running_mean.clone()
    grad_cam(model, model.features, torch.randn(3, 1, 28, 28))
    guided_backprop(model, torch.randn(3, 1, 28, 28))
    assert hooks_of(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(model.features[1].running_mean, stats), "eval mode: BatchNorm statistics untouched"


def test_hooks_removed_and_mode_restored_after_a_failing_call():
    model = random_gapnet().train()
    with pytest.raises(ValueError, match=r"images of shape \[2, 3, 28, 28\].*1 channels"):
        grad_cam(model, model.features, torch.randn(2, 3, 28, 28))  # 3 channels into a 1-channel conv
    assert hooks_of(model) == 0 and model.training
    with pytest.raises(ValueError):
        guided_backprop(model, torch.randn(2, 3, 28, 28))
    assert hooks_of(model) == 0 and model.training


def test_frozen_parameters_still_work():
    model = random_gapnet()
    images = torch.randn(2, 1, 28, 28)
    expected = grad_cam(model, model.features, images)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    assert torch.allclose(grad_cam(model, model.features, images), expected)
    assert guided_backprop(model, images).abs().sum() > 0


def test_clear_errors():
    model = random_gapnet()
    model.unused = nn.Conv2d(1, 1, 1)
    images = torch.randn(2, 1, 28, 28)
    with pytest.raises(ValueError, match="'unused' was never called during the forward pass"):
        grad_cam(model, model.unused, images)
    with pytest.raises(ValueError, match="no submodule 'nope'"):
        grad_cam(model, "nope", images)
    with pytest.raises(ValueError, match="not a submodule"):
        grad_cam(model, nn.Conv2d(1, 1, 1), images)
    with torch.no_grad(), pytest.raises(RuntimeError, match=r"torch.no_grad\(\).*enable_grad"):
        grad_cam(model, model.features, images)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="inference_mode"):
        guided_backprop(model, images)
    with pytest.raises(ValueError, match=r"\[1, 28, 28\]"):
        grad_cam(model, model.features, images[0])
    with pytest.raises(ValueError, match="class index out of range"):
        grad_cam(model, model.features, images, [0, 7])
    with pytest.raises(ValueError, match="no nn.ReLU"):
        guided_backprop(hand_model(), A)


def test_guided_backprop_by_hand():
    # x -> first three pixels -> ReLU -> linear; h = (1, -1, 2), the ReLU keeps units 0 and 2.
    first = nn.Linear(4, 3, bias=False)
    first.weight.data.copy_(torch.eye(3, 4))
    second = nn.Linear(3, 2, bias=False)
    second.weight.data.copy_(torch.tensor([[2.0, 5.0, -3.0], [1.0, 1.0, 1.0]]))
    model = nn.Sequential(nn.Flatten(), first, nn.ReLU(), second)
    image = torch.tensor([1.0, -1.0, 2.0, 3.0]).view(1, 1, 2, 2)
    # plain gradient of class 0: (2, 0, -3, 0); guided drops the negative -3 as well
    assert torch.equal(guided_backprop(model, image, [0]), torch.tensor([2.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2))


def test_guided_grad_cam_is_the_product():
    model = random_gapnet()
    images = torch.randn(3, 1, 28, 28)
    product = guided_grad_cam(model, model.features, images)
    with torch.no_grad():
        predicted = model(images).argmax(1)
    maps = upsample_cams(grad_cam(model, model.features, images, predicted), (28, 28))
    assert product.shape == (3, 1, 28, 28)
    assert torch.allclose(product, guided_backprop(model, images, predicted) * maps[:, None])


@pytest.fixture
def resnet_and_images():
    torchvision_models = pytest.importorskip("torchvision.models")
    torch.manual_seed(0)
    model = torchvision_models.resnet18(weights=None, num_classes=7).eval()
    return model, torch.randn(2, 3, 64, 64)


def test_agrees_with_pytorch_grad_cam(resnet_and_images):
    gradcam_module = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, images = resnet_and_images
    classes = [3, 5]
    with gradcam_module.GradCAM(model=model, target_layers=[model.layer4]) as peer:
        theirs = peer(input_tensor=images, targets=[ClassifierOutputTarget(c) for c in classes])
    ours = normalize_cams(upsample_cams(grad_cam(model, model.layer4, images, classes), (64, 64)), "minmax")
    assert ours.shape == theirs.shape
    assert torch.allclose(ours, torch.from_numpy(theirs), atol=1e-4)


def test_agrees_with_torchcam(resnet_and_images):
    methods = pytest.importorskip("torchcam.methods")
    model, images = resnet_and_images
    classes = [3, 5]
    with methods.GradCAM(model, target_layer=model.layer4) as peer:
        theirs = peer(classes, model(images))[0]
    ours = normalize_cams(grad_cam(model, model.layer4, images, classes), "minmax")
    assert theirs.shape == ours.shape
    assert torch.allclose(ours, theirs, atol=1e-4)


# --------------------------------------------------------------------------------------
# hostile inputs: a clear error, never a map per image with the missing ones zero
# --------------------------------------------------------------------------------------


class FirstRowOnly(nn.Module):
    """A faulty model: it returns the logits of the first image only."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, images):
        return self.inner(images)[:1]


@pytest.mark.parametrize("classes", [None, [0, 1]])
def test_a_model_that_drops_images_is_refused(classes):
    model = FirstRowOnly(random_gapnet())
    with pytest.raises(ValueError, match="1 rows of logits for 2 images"):
        grad_cam(model, "inner.features", torch.randn(2, 1, 28, 28), classes)
    with pytest.raises(ValueError, match="1 rows of logits for 2 images"):
        guided_backprop(model, torch.randn(2, 1, 28, 28), classes)


def test_a_layer_without_spatial_maps_is_refused():
    model = random_gapnet()
    with pytest.raises(ValueError, match=r"'classifier' returns shape \[2, 5\].*convolutional layer"):
        grad_cam(model, "classifier", torch.randn(2, 1, 28, 28))
    assert hooks_of(model) == 0


def test_empty_batch():
    model = random_gapnet()
    assert grad_cam(model, model.features, torch.zeros(0, 1, 28, 28), []).shape == (0, 7, 7)


def test_images_in_another_dtype_are_named():
    model = random_gapnet()
    with pytest.raises(ValueError, match="float64.*float32"):
        grad_cam(model, model.features, torch.randn(1, 1, 28, 28, dtype=torch.float64))


def test_no_model_a_layer_of_another_type_and_non_bool_flags_are_named():
    model, images = random_gapnet(), torch.rand(2, 1, 8, 8)
    for call in (lambda: grad_cam(None, "features", images), lambda: guided_backprop(None, images),
                 lambda: guided_grad_cam(None, "features", images)):
        with pytest.raises(TypeError, match="model must be a torch.nn.Module, got NoneType"):
            call()
    with pytest.raises(TypeError, match="layer must be a submodule of the model or its dotted name .*got list"):
        grad_cam(model, ["features"], images)
    with pytest.raises(TypeError, match="must be True or False, got 'no'"):
        grad_cam(model, "features", images, relu="no")
    with pytest.raises(TypeError, match="counterfactual must be True or False, got None"):
        grad_cam(model, "features", images, counterfactual=None)

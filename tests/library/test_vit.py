"""camlib.vit: the exact token CAM of a mean-head ViT, Grad-CAM over reshaped tokens (against
pytorch-grad-cam on torchvision's vit_b_16), attention rollout, Chefer et al.'s relevance (against a
port of its reference code), errors and hook hygiene."""

import pytest
import torch
from torch import nn

from camlib.methods.cam import upsample_cams
from camlib.methods.gradcam import grad_cam
from camlib.methods.token_cams import (
    attention_rollout,
    capture_attentions,
    chefer_relevance,
    compute_token_cams,
    rollout,
    token_cams,
    token_reshape,
)
from camlib.models.vit import TinyViT


def hooks_of(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def random_vit(head="mean", seed=0, dtype=torch.float64, **kwargs) -> TinyViT:
    """A seeded TinyViT on 16x16 images (4x4 grid), with LayerNorm and bias parameters moved
    off their (1, 0) initialization so that no term of the identities is trivially zero."""
    torch.manual_seed(seed)
    config = dict(image_size=16, patch_size=4, in_channels=1, num_classes=5, dim=16, depth=2, heads=2)
    model = TinyViT(**{**config, **kwargs}, head=head).to(dtype)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
        model.classifier.bias.uniform_(-1, 1)
    return model.eval()


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).detach().abs().max() / expected.detach().abs().max())


# --------------------------------------------------------------------------------------
# the model
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_tiny_vit_shapes_attributes_and_deterministic_init(stem):
    for head, prefix in (("mean", 0), ("cls", 1)):
        model = random_vit(head, dtype=torch.float32, image_size=(16, 24), stem=stem)
        assert model.grid == (4, 6) and model.prefix_tokens == prefix and model.head == head
        assert model(torch.randn(3, 1, 16, 24)).shape == (3, 5)
        assert model.forward_tokens(torch.randn(3, 1, 16, 24)).shape == (3, prefix + 24, 16)
    strides = [m.stride for m in model.patch_embed.modules() if isinstance(m, nn.Conv2d)]
    assert strides == ([(4, 4)] if stem == "patch" else [(2, 2), (2, 2), (1, 1)])  # patch 4: two halvings, a 1x1
    torch.manual_seed(3)
    first = TinyViT(16, 4, 1, 5, dim=16, depth=2, heads=2, stem=stem)
    torch.manual_seed(3)
    second = TinyViT(**first.config).state_dict()  # the config rebuilds it; the seed fixes its weights
    first = first.state_dict()
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_tiny_vit_errors():
    with pytest.raises(ValueError, match=r"image_size \(30, 30\) is not divisible by patch_size 8"):
        TinyViT(30, 8, 1, 10)
    with pytest.raises(ValueError, match="head='avg': use 'mean'"):
        TinyViT(32, 8, 1, 10, head="avg")
    with pytest.raises(ValueError, match="dim=30 is not divisible by heads=4"):
        TinyViT(32, 8, 1, 10, dim=30)
    with pytest.raises(ValueError, match="mlp_ratio must be a positive number"):
        TinyViT(32, 8, 1, 10, mlp_ratio=0)
    with pytest.raises(ValueError, match="patch_size must be an integer >= 1"):
        TinyViT(32, 0, 1, 10)
    with pytest.raises(ValueError, match="stem='resnet': use 'patch'"):
        TinyViT(32, 8, 1, 10, stem="resnet")
    for patch in (1, 6):
        with pytest.raises(ValueError, match=f"patch_size must be a power of 2 .*got {patch}; or use stem='patch'"):
            TinyViT(36, patch, 1, 10, stem="conv")
    model = TinyViT(32, 8, 1, 10)
    with pytest.raises(ValueError, match=r"built for images \[B, 1, 32, 32\].*got \[2, 3, 32, 32\]"):
        model(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"built for images \[B, 1, 32, 32\].*got \[2, 1, 64, 64\]"):
        model(torch.randn(2, 1, 64, 64))


# --------------------------------------------------------------------------------------
# token CAMs: S_c = mean of M_c + b_c
# --------------------------------------------------------------------------------------


def test_token_cams_by_hand():
    # one image, a CLS token (ignored) and a 2x2 grid of K=2 tokens, row-major
    tokens = torch.tensor([[[9.0, 9.0], [1.0, 0.0], [0.0, 1.0], [2.0, 3.0], [-1.0, 1.0]]])
    weight = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    expected = torch.tensor([[[[1.0, 2.0], [8.0, 1.0]], [[0.0, -1.0], [-3.0, -1.0]]]])  # w0 + 2 w1, -w1
    assert torch.equal(token_cams(tokens, weight, (2, 2), prefix_tokens=1), expected)
    assert torch.equal(token_cams(tokens, weight, 2, [1], prefix_tokens=1), expected[:, 1])
    # a 1x4 grid of the same tokens: the same values in one row
    assert torch.equal(token_cams(tokens, weight, (1, 4), prefix_tokens=1), expected.flatten(2).unsqueeze(2))


def test_prefix_tokens_are_dropped():
    torch.manual_seed(0)
    tokens, weight = torch.randn(3, 2 + 12, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    maps = token_cams(tokens, weight, (3, 4), prefix_tokens=2)
    assert torch.equal(maps, token_cams(tokens[:, 2:], weight, (3, 4)))
    changed = tokens.clone()
    changed[:, :2] = 1e6  # CLS and register tokens do not enter the map
    assert torch.equal(token_cams(changed, weight, (3, 4), prefix_tokens=2), maps)
    assert torch.equal(token_cams(changed, weight, (3, 4), [0, 1, 3], prefix_tokens=2),
                       token_cams(tokens, weight, (3, 4), [0, 1, 3], prefix_tokens=2))


@pytest.mark.parametrize("classes, stem", [(None, "patch"), ("predicted", "patch"), ([4, 0, 2, 2], "patch"),
                                           ([4, 0, 2, 2], "conv")])
def test_token_cam_identity_float64(classes, stem):
    model = random_vit("mean", stem=stem)
    images = torch.randn(4, 1, 16, 16, dtype=torch.float64)
    logits, cams = compute_token_cams(model, images, classes)
    assert cams.shape == ((4, 5, 4, 4) if classes is None else (4, 4, 4))
    chosen = slice(None) if classes is None else logits.argmax(1) if classes == "predicted" else torch.tensor(classes)
    bias = model.classifier.bias.detach()[chosen]
    scores = logits if classes is None else logits.gather(1, torch.as_tensor(chosen)[:, None])[:, 0]
    assert relative_error(cams.mean(dim=(-2, -1)) + bias, scores) < 1e-10
    with torch.no_grad():  # and the maps are the classifier's weights applied to the normalized patch tokens
        expected = token_cams(model.forward_tokens(images), model.classifier.weight, model.grid)
    assert relative_error(cams, expected if classes is None else expected[torch.arange(4), chosen]) < 1e-12


def test_token_cam_errors():
    tokens, weight = torch.randn(2, 17, 8), torch.randn(3, 8)
    with pytest.raises(ValueError, match=r"N=17 tokens; with prefix_tokens=0 that leaves 17 patch tokens, but the "
                                         r"grid \(4, 4\) has 16 positions"):
        token_cams(tokens, weight, (4, 4))
    with pytest.raises(ValueError, match=r"K=8 channels .* not \[C, 8\]: pass the weight of the linear head"):
        token_cams(tokens, torch.randn(3, 6), (4, 4), prefix_tokens=1)
    with pytest.raises(ValueError, match="class index out of range"):
        token_cams(tokens, weight, (4, 4), [0, 3], prefix_tokens=1)
    with pytest.raises(ValueError, match=r"tokens must be \[B, N, K\]"):
        token_cams(tokens[0], weight, (4, 4))
    with pytest.raises(ValueError, match="prefix_tokens must be an integer >= 0"):
        token_cams(tokens, weight, (4, 4), prefix_tokens=-1)
    with pytest.raises(ValueError, match="grid must be a positive integer or a"):
        token_cams(tokens, weight, (4, 4, 1), prefix_tokens=1)
    with pytest.raises(TypeError, match="tokens and weight must be torch tensors"):
        token_cams(tokens.numpy(), weight, (4, 4))


def test_compute_token_cams_refuses_what_has_no_cam():
    with pytest.raises(TypeError, match="use grad_cam with reshape or attention_rollout: a CLS head has no CAM"):
        compute_token_cams(random_vit("cls"), torch.randn(2, 1, 16, 16, dtype=torch.float64))
    with pytest.raises(TypeError, match="is not a token GAP network.*missing: norm, classifier, grid, prefix_tokens"):
        compute_token_cams(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), torch.randn(1, 1, 2, 2))

    class MaxPooled(TinyViT):  # a head that is not the mean of the tokens `norm` returns
        def forward(self, images):
            return self.classifier(self.forward_tokens(images).amax(dim=1))

    model = MaxPooled(16, 4, 1, 5, dim=16, depth=1, heads=2).eval()
    with pytest.raises(TypeError, match="not its classifier applied to the mean of its patch tokens"):
        compute_token_cams(model, torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match="classes='all'"):
        compute_token_cams(random_vit(), torch.randn(2, 1, 16, 16, dtype=torch.float64), "all")
    assert hooks_of(model) == 0


# --------------------------------------------------------------------------------------
# Grad-CAM over tokens
# --------------------------------------------------------------------------------------


def pytorch_grad_cam_reshape_transform(tensor, height=14, width=14):
    """The reshape_transform of pytorch-grad-cam's ViT tutorial and README, as written there."""
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    result = result.transpose(2, 3).transpose(1, 2)
    return result


def test_token_reshape_is_pytorch_grad_cams_reshape_transform():
    tokens = torch.randn(2, 197, 12)
    assert torch.equal(token_reshape((14, 14), prefix_tokens=1)(tokens), pytorch_grad_cam_reshape_transform(tokens))
    assert torch.equal(token_reshape(2)(torch.arange(8.0).view(1, 4, 2)),
                       torch.tensor([[[[0.0, 2.0], [4.0, 6.0]], [[1.0, 3.0], [5.0, 7.0]]]]))
    with pytest.raises(ValueError, match=r"N=196 tokens; with prefix_tokens=1 that leaves 195"):
        token_reshape((14, 14), 1)(torch.randn(1, 196, 12))
    with pytest.raises(ValueError, match=r"token_reshape expects tokens \[B, N, K\], got \[1, 12, 14, 14\]"):
        token_reshape((14, 14), 1)(torch.randn(1, 12, 14, 14))


@pytest.mark.parametrize("classes", [None, [1, 3, 0]])
def test_grad_cam_over_mean_head_tokens_is_relu_token_cam_over_z(classes):
    model = random_vit("mean")
    images = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    logits, cams = compute_token_cams(model, images, "predicted" if classes is None else classes)
    maps = grad_cam(model, "norm", images, classes, reshape=token_reshape(model.grid))
    z = model.grid[0] * model.grid[1]
    assert relative_error(maps, cams.clamp_min(0) / z) < 1e-10
    signed = grad_cam(model, model.norm, images, classes, relu=False, reshape=token_reshape(model.grid))
    assert relative_error(signed, cams / z) < 1e-10


def test_grad_cam_on_a_cls_head_needs_a_layer_before_the_last_attention():
    model = random_vit("cls")
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    reshape = token_reshape(model.grid, prefix_tokens=1)
    # after the last block only the CLS token reaches the logits: the patch tokens' gradients are 0, and
    # a blank map would read as "no evidence", so grad_cam refuses the layer and names the right one
    with pytest.raises(ValueError, match=r"only the prefix \(CLS\) tokens reach .*\(blocks\[-1\]\.norm1"):
        grad_cam(model, "norm", images, relu=False, reshape=reshape)
    assert grad_cam(model, "blocks.1.norm1", images, relu=False, reshape=reshape).abs().amax() > 0


def test_grad_cam_token_errors():
    model = random_vit("cls")
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"'blocks.1.norm1' returns tokens of shape \[2, 17, 16\].*pass "
                                         r"reshape=camlib\.token_reshape\(grid, prefix_tokens\)"):
        grad_cam(model, "blocks.1.norm1", images)
    with pytest.raises(TypeError, match="reshape must be a callable"):
        grad_cam(model, "blocks.1.norm1", images, reshape=(4, 4))
    with pytest.raises(ValueError, match=r"reshape turned layer 'blocks.1.norm1'.*into \[2, 17, 16\]"):
        grad_cam(model, "blocks.1.norm1", images, reshape=lambda tokens: tokens)
    with pytest.raises(ValueError, match="N=17 tokens; with prefix_tokens=0"):
        grad_cam(model, "blocks.1.norm1", images, reshape=token_reshape(model.grid))
    assert hooks_of(model) == 0


def test_grad_cam_on_torchvision_vit_b_16_agrees_with_pytorch_grad_cam():
    """Tolerances (float32): raw maps 1e-4 of their maximum (seen: ~1e-6); after pytorch-grad-cam's
    min-max scaling and resize to 224 x 224, 1e-4 absolute (seen: ~1e-6)."""
    gradcam_module = pytest.importorskip("pytorch_grad_cam")
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    from torchvision.models import vit_b_16

    from camlib.methods.cam import normalize_cams

    torch.manual_seed(0)
    model = vit_b_16(weights=None).eval()
    nn.init.normal_(model.heads.head.weight, std=0.02)  # torchvision zero-initializes the head: no gradient
    layer = model.encoder.layers[-1].ln_1
    model.requires_grad_(False)
    layer.requires_grad_(True)  # pytorch-grad-cam's backward then stops at the layer (CPU time)
    images, classes = torch.randn(2, 3, 224, 224), [3, 500]
    ours = grad_cam(model, layer, images, classes, relu=False, reshape=token_reshape((14, 14), prefix_tokens=1))
    targets = [ClassifierOutputTarget(c) for c in classes]
    with gradcam_module.GradCAM(model=model, target_layers=[layer],
                                reshape_transform=pytorch_grad_cam_reshape_transform) as peer:
        scaled = torch.from_numpy(peer(input_tensor=images, targets=targets))
        stored = peer.activations_and_grads
        raw = torch.from_numpy(peer.get_cam_image(images, layer, targets, stored.activations[0].numpy(),
                                                  stored.gradients[0].numpy()))  # before ReLU and scaling
    assert raw.shape == ours.shape == (2, 14, 14) and ours.abs().amax() > 0
    assert relative_error(ours, raw) < 1e-4
    ours = normalize_cams(upsample_cams(ours.clamp_min(0), (224, 224)), "minmax")
    assert scaled.shape == ours.shape and float((ours - scaled).abs().max()) < 1e-4


# --------------------------------------------------------------------------------------
# attention rollout
# --------------------------------------------------------------------------------------


def attentions_by_hand(model: TinyViT, images: torch.Tensor) -> list[torch.Tensor]:
    """Each block's softmax(QK^T / sqrt(d)) recomputed from its weights, without hooks."""
    attentions = []
    with torch.no_grad():
        tokens = model.patch_embed(images).flatten(2).transpose(1, 2)
        if model.cls_token is not None:
            tokens = torch.cat([model.cls_token.expand(len(images), -1, -1), tokens], dim=1)
        tokens = tokens + model.pos_embed
        for block in model.blocks:
            heads, (batch, n, dim) = block.attn.heads, tokens.shape
            q, k, _ = block.attn.qkv(block.norm1(tokens)).split(dim, dim=-1)
            q, k = (t.reshape(batch, n, heads, dim // heads).transpose(1, 2) for t in (q, k))
            attentions.append(torch.softmax(q @ k.transpose(-1, -2) / (dim // heads) ** 0.5, dim=-1))
            tokens = block(tokens)
    return attentions


def rollout_by_hand(attentions, head_fusion="mean", discard_ratio=0.0, start_layer=0):
    """One image at a time, as jacobgil/vit-explain writes it (rows renormalized with keepdim)."""
    results = []
    for b in range(attentions[0].shape[0]):
        n = attentions[0].shape[-1]
        result = torch.eye(n, dtype=attentions[0].dtype)
        for attention in attentions[start_layer:]:
            fused = getattr(attention[b], {"mean": "mean", "max": "amax", "min": "amin"}[head_fusion])(dim=0)
            flat = fused.view(-1).clone()
            indices = flat.topk(int(flat.numel() * discard_ratio), largest=False).indices
            flat[indices[indices != 0]] = 0
            a = (flat.view(n, n) + torch.eye(n, dtype=fused.dtype)) / 2
            result = (a / a.sum(dim=-1, keepdim=True)) @ result
        results.append(result)
    return torch.stack(results)


def test_captured_attentions_are_the_models():
    model = random_vit("cls")
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    logits, attentions = capture_attentions(model, images)
    assert torch.equal(logits, model(images))
    expected = attentions_by_hand(model, images)
    assert len(attentions) == 2 and all(a.shape == (2, 2, 17, 17) for a in attentions)
    assert all(relative_error(a, e) < 1e-12 for a, e in zip(attentions, expected))


@pytest.mark.parametrize("options", [{}, {"head_fusion": "max", "discard_ratio": 0.5},
                                     {"head_fusion": "min", "discard_ratio": 0.9, "start_layer": 1}])
def test_rollout_against_a_hand_loop(options):
    model = random_vit("cls", depth=3)
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    _, attentions = capture_attentions(model, images)
    flow = rollout(attentions, **options)
    assert flow.shape == (2, 17, 17)
    assert relative_error(flow.sum(dim=-1), torch.ones(2, 17)) < 1e-12  # rows sum to 1
    assert relative_error(flow, rollout_by_hand(attentions, **options)) < 1e-12
    maps = attention_rollout(model, images, **options)
    assert maps.shape == (2, 4, 4) and torch.equal(maps, flow[:, 0, 1:].reshape(2, 4, 4))
    assert relative_error(maps.sum(dim=(-2, -1)) + flow[:, 0, 0], torch.ones(2)) < 1e-12


def test_rollout_of_a_mean_head_averages_the_patch_rows():
    model = random_vit("mean")
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    flow = rollout(capture_attentions(model, images)[1])
    maps = attention_rollout(model, images)
    assert torch.equal(maps, flow.mean(dim=1).reshape(2, 4, 4))
    assert relative_error(maps.sum(dim=(-2, -1)), torch.ones(2)) < 1e-12


def test_rollout_on_torchvision_vision_transformer():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                              num_classes=3).double().eval()
    images = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    logits, attentions = capture_attentions(model, images)
    expected = []
    with torch.no_grad():  # torchvision's forward, unrolled, with the weights asked for
        tokens = model._process_input(images)
        tokens = torch.cat([model.class_token.expand(2, -1, -1), tokens], dim=1) + model.encoder.pos_embedding
        for layer in model.encoder.layers:
            normed = layer.ln_1(tokens)
            expected.append(layer.self_attention(normed, normed, normed, average_attn_weights=False)[1])
            tokens = layer(tokens)
        assert torch.equal(logits, model(images)), "asking for the weights does not change the logits"
    assert all(relative_error(a, e) < 1e-12 for a, e in zip(attentions, expected))
    expected_maps = rollout_by_hand(expected)[:, 0, 1:].reshape(2, 4, 4)
    assert relative_error(attention_rollout(model, images), expected_maps) < 1e-12
    assert hooks_of(model) == 0


def test_rollout_errors():
    model = random_vit("cls")
    images = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match="head_fusion='sum': use one of"):
        attention_rollout(model, images, head_fusion="sum")
    with pytest.raises(ValueError, match=r"discard_ratio must be a number in \[0, 1\)"):
        attention_rollout(model, images, discard_ratio=1.0)
    with pytest.raises(ValueError, match="start_layer must be an int from 0 to 1"):
        attention_rollout(model, images, start_layer=2)
    with pytest.raises(ValueError, match="attentions must be a non-empty sequence"):
        rollout([])
    with pytest.raises(TypeError, match="no attention layers that attention_rollout can read"):
        attention_rollout(nn.Sequential(nn.Flatten(), nn.Linear(256, 2)).double(), images)
    assert hooks_of(model) == 0


# --------------------------------------------------------------------------------------
# hygiene: no hook left, train/eval flags as they were, also after a failing call
# --------------------------------------------------------------------------------------


def test_hooks_removed_and_modes_restored():
    mean_model, cls_model = random_vit("mean").train(), random_vit("cls").train()
    mean_model.blocks[0].eval()  # a mixed state must come back as it was
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    calls = [
        (mean_model, lambda: compute_token_cams(mean_model, images)),
        (mean_model, lambda: grad_cam(mean_model, "norm", images, reshape=token_reshape(mean_model.grid))),
        (mean_model, lambda: attention_rollout(mean_model, images)),
        (cls_model, lambda: attention_rollout(cls_model, images, discard_ratio=0.5)),
        (cls_model, lambda: capture_attentions(cls_model, images)),
        (cls_model, lambda: grad_cam(cls_model, "blocks.1.norm1", images, reshape=token_reshape(cls_model.grid, 1))),
    ]
    for model, call in calls:
        modes = [m.training for m in model.modules()]
        call()
        assert hooks_of(model) == 0 and [m.training for m in model.modules()] == modes
        assert all(p.grad is None for p in model.parameters())
    wrong = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    for function in (compute_token_cams, attention_rollout, capture_attentions,
                     lambda model, x: grad_cam(model, "norm", x, reshape=token_reshape(model.grid))):
        with pytest.raises(ValueError, match=r"built for images \[B, 1, 16, 16\]"):
            function(mean_model, wrong)
        assert hooks_of(mean_model) == 0 and mean_model.training and not mean_model.blocks[0].training


@pytest.mark.parametrize("stem", ["patch", "conv"])
def test_a_tiny_vit_checkpoint_round_trips_through_camlib_train(tmp_path, stem):
    from camlib.models import build_model
    from camlib.train import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = TinyViT(image_size=16, patch_size=4, in_channels=1, num_classes=3, dim=8, depth=1, heads=2, head="cls",
                    stem=stem)
    save_checkpoint(tmp_path / "vit.pt", model, class_names=["a", "b", "c"], data_source="test")
    loaded = load_checkpoint(tmp_path / "vit.pt").model
    assert isinstance(loaded, TinyViT) and loaded.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert isinstance(build_model("TinyViT", model.config), TinyViT)


def test_a_tiny_vit_checkpoint_loads_in_a_process_that_never_imported_camlib_vit(tmp_path):
    import subprocess
    import sys

    from camlib.train import save_checkpoint

    model = TinyViT(image_size=16, patch_size=4, in_channels=1, num_classes=3, dim=8, depth=1, heads=2)
    save_checkpoint(tmp_path / "vit.pt", model, class_names=["a", "b", "c"], data_source="test")
    code = ("import sys; from camlib.train import load_checkpoint; "
            f"print(type(load_checkpoint({str(tmp_path / 'vit.pt')!r}).model).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "TinyViT"


def test_every_entry_point_takes_the_vit_and_every_use_x_of_an_error_can_be_followed():
    from camlib.methods.attribution import attribution_maps, grad_cam_plus_plus
    from camlib.methods.token_cams import compute_token_cams, token_reshape

    mean_vit, cls_vit = random_vit("mean").float(), random_vit("cls").float()
    images = torch.rand(2, 1, 16, 16)
    # CAM of a mean-head ViT: the message names the exact token CAM and the Grad-CAM call
    with pytest.raises(TypeError, match=r"compute_token_cams\(model, images, classes\)") as said:
        attribution_maps("cam", mean_vit, images)
    assert "token_reshape(model.grid, model.prefix_tokens)" in str(said.value)
    model = mean_vit
    assert compute_token_cams(model, images, [0, 1]).cams.shape[-2:] == model.grid
    reshape = token_reshape(model.grid, model.prefix_tokens)
    assert grad_cam(model, "norm", images, reshape=reshape).shape == (2, *model.grid)
    # tokens without reshape: the message says to pass reshape=token_reshape(grid, prefix_tokens); followed, maps
    for method in ("grad_cam", "grad_cam_pp"):
        with pytest.raises(ValueError, match=r"reshape=camlib\.token_reshape\(grid, prefix_tokens\)"):
            attribution_maps(method, mean_vit, images, layer="norm")
        maps = attribution_maps(method, mean_vit, images, layer="norm",
                                reshape=token_reshape(mean_vit.grid, mean_vit.prefix_tokens))
        assert maps.shape == (2, *images.shape[-2:]) and torch.isfinite(maps).all()
    direct = grad_cam_plus_plus(mean_vit, images, layer="norm", reshape=token_reshape(mean_vit.grid, 0))
    assert direct.shape == (2, *mean_vit.grid)
    # a CLS head's last norm: only CLS reaches the scores; the message names blocks[-1].norm1, which works
    for method in ("grad_cam", "grad_cam_pp"):
        with pytest.raises(ValueError, match=r"blocks\[-1\]\.norm1 of TinyViT"):
            attribution_maps(method, cls_vit, images, layer="norm", reshape=token_reshape(cls_vit.grid, 1))
        last = f"blocks.{len(cls_vit.blocks) - 1}.norm1"
        maps = attribution_maps(method, cls_vit, images, layer=last, reshape=token_reshape(cls_vit.grid, 1),
                                relu=False)
        assert maps.abs().sum() > 0


# --------------------------------------------------------------------------------------
# Chefer et al. (ICCV 2021): gradient-weighted attention relevance
# --------------------------------------------------------------------------------------


def chefer_reference(model: TinyViT, images: torch.Tensor, classes) -> torch.Tensor:
    """A port of hila-chefer/Transformer-MM-Explainability's ViT ``generate_relevance``: one image at a
    time, the attention probabilities kept by a hook and their gradients by ``register_hook``, a one-hot
    score and ``.backward()``, R += cam @ R, and R[0, 1:] (a CLS head). Works on a copy of the model,
    whose parameters' .grad it writes."""
    import copy

    model = copy.deepcopy(model).eval()
    maps, saved = [], {}

    def save(block):
        def hook(_module, _inputs, attention):
            saved[block] = [attention, None]
            attention.register_hook(lambda grad: saved[block].__setitem__(1, grad))
        return hook

    handles = [b.attn.softmax.register_forward_hook(save(i)) for i, b in enumerate(model.blocks)]
    for image, index in zip(images, classes):
        output = model(image[None])
        one_hot = torch.zeros(1, output.size()[-1], dtype=output.dtype)
        one_hot[0, index] = 1
        score = torch.sum(one_hot * output)
        model.zero_grad()
        score.backward(retain_graph=True)
        num_tokens = saved[0][0].shape[-1]
        R = torch.eye(num_tokens, num_tokens, dtype=output.dtype)  # noqa: N806 -- the reference's name
        for i in range(len(model.blocks)):
            cam, grad = saved[i][0].reshape(-1, num_tokens, num_tokens), saved[i][1].reshape(-1, num_tokens, num_tokens)
            cam = (grad * cam).clamp(min=0).mean(dim=0)  # avg_heads
            R += torch.matmul(cam, R)  # apply_self_attention_rules
        maps.append(R[0, 1:].detach())
    for handle in handles:
        handle.remove()
    return torch.stack(maps).unflatten(1, model.grid)


@pytest.mark.parametrize("classes", [None, [3, 0, 4]])
def test_chefer_relevance_agrees_with_the_reference_code_float64(classes):
    model = random_vit("cls", depth=3)
    images = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    maps = chefer_relevance(model, images, classes)
    targets = model(images).argmax(dim=1).tolist() if classes is None else classes
    expected = chefer_reference(model, images, targets)
    assert maps.shape == (3, 4, 4) and maps.dtype == torch.float64
    assert expected.abs().max() > 1e-3  # not a trivially zero map
    largest = float((maps - expected).abs().max())  # about 1e-17 here: batched vs one at a time, in float64
    assert largest < 1e-12, f"largest difference from the reference port: {largest:.3g}"


def test_chefer_relevance_by_hand_on_one_block():
    """One block, R = I + Abar, so the map is Abar's CLS row: A recomputed by hand, dS/dA by autograd
    through the rest of the network written out, Abar = mean_h (dS/dA * A)^+."""
    model = random_vit("cls", depth=1)
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    classes = [1, 4]
    (attention,) = attentions_by_hand(model, images)
    attention.requires_grad_(True)
    block, (batch, n, dim) = model.blocks[0], (2, 17, 16)
    with torch.no_grad():
        tokens = torch.cat([model.cls_token.expand(batch, -1, -1), model.patch_embed(images).flatten(2).mT], dim=1)
        tokens = tokens + model.pos_embed
        v = block.attn.qkv(block.norm1(tokens))[..., 2 * dim:].reshape(batch, n, 2, dim // 2).transpose(1, 2)
    mixed = tokens + block.attn.proj((attention @ v).transpose(1, 2).reshape(batch, n, dim))
    logits = model.classifier(model.norm(mixed + block.mlp(block.norm2(mixed)))[:, 0])
    assert relative_error(logits, model(images)) < 1e-12
    (gradient,) = torch.autograd.grad(logits[[0, 1], classes].sum(), attention)
    weighted = (gradient * attention).detach().clamp_min(0).mean(dim=1)
    expected = weighted[:, 0, 1:].reshape(2, 4, 4)  # (I + Abar)[0, 1:] = Abar[0, 1:]
    assert relative_error(chefer_relevance(model, images, classes), expected) < 1e-12


def test_chefer_relevance_of_a_class_that_does_not_see_the_attention_is_the_identity_row():
    """A class whose classifier row is 0 has dS/dA = 0: every Abar is 0 and R = I."""
    for head, blank in (("cls", torch.zeros(2, 4, 4)), ("mean", torch.full((2, 4, 4), 1 / 16))):
        model = random_vit(head)
        with torch.no_grad():
            model.classifier.weight[2] = 0
        maps = chefer_relevance(model, torch.randn(2, 1, 16, 16, dtype=torch.float64), [2, 2])
        assert torch.equal(maps, blank.double())  # CLS row of I over the patches; mean of I's patch rows


def test_chefer_relevance_mean_head_batches_and_restores_the_model():
    model = random_vit("mean").train()
    model.blocks[0].eval()  # a mixed state must come back as it was
    model.patch_embed.requires_grad_(False)  # so must frozen parameters
    images = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    modes, flags = [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]
    maps = chefer_relevance(model, images)
    assert maps.shape == (3, *model.grid) and torch.isfinite(maps).all() and maps.abs().max() > 0
    assert [m.training for m in model.modules()] == modes and [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters()) and hooks_of(model) == 0
    assert all(not b.attn.softmax._forward_hooks for b in model.blocks)
    with torch.no_grad():
        predicted = model.eval()(images).argmax(dim=1)
    model.train()
    assert torch.equal(maps, chefer_relevance(model, images, predicted))  # None is each image's prediction
    one_by_one = torch.cat([chefer_relevance(model, image[None], c[None]) for image, c in zip(images, predicted)])
    assert relative_error(maps, one_by_one) < 1e-12  # images are independent: the batched score's gradients split
    other = chefer_relevance(model, images, (predicted + 1) % 5)
    assert not torch.allclose(maps, other)  # unlike rollout, it depends on the class
    model.requires_grad_(False)  # every parameter frozen: the graph still reaches the attentions
    assert torch.equal(chefer_relevance(model, images), maps)
    assert all(p.grad is None for p in model.parameters())


class ExplicitAttention(nn.Module):
    """torchvision's ``nn.MultiheadAttention`` written out (batch first, no mask, eval mode), keeping
    its attention probabilities, with their gradient, in ``self.probabilities``."""

    def __init__(self, attention: nn.MultiheadAttention):
        super().__init__()
        self.attention, self.probabilities = attention, None

    def forward(self, query, key, value, need_weights=False):
        mha, (batch, n, dim) = self.attention, query.shape
        heads = mha.num_heads
        q, k, v = (part.reshape(batch, n, heads, dim // heads).transpose(1, 2)
                   for part in nn.functional.linear(query, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1))
        self.probabilities = torch.softmax(q @ k.mT / (dim // heads) ** 0.5, dim=-1)
        self.probabilities.retain_grad()
        mixed = (self.probabilities @ v).transpose(1, 2).reshape(batch, n, dim)
        return mha.out_proj(mixed), None


def test_chefer_relevance_on_torchvision_vision_transformer_agrees_with_explicit_attention():
    """On torchvision's ViT camlib differentiates through the probabilities its per-head weights are a
    view of; the reference rewrites every attention by hand (same logits, asserted) and runs the
    reference recipe on it, one image at a time, in float64."""
    import copy

    from torchvision.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
                            num_classes=5).double().eval()
    nn.init.normal_(vit.heads.head.weight, std=0.5)  # torchvision zero-initializes the head: no gradient at all
    images, classes = torch.randn(3, 3, 32, 32, dtype=torch.float64), [1, 4, 0]
    maps = chefer_relevance(vit, images, classes)
    assert maps.shape == (3, 4, 4) and hooks_of(vit) == 0 and all(p.grad is None for p in vit.parameters())
    explicit = copy.deepcopy(vit)
    for layer in explicit.encoder.layers:
        layer.self_attention = ExplicitAttention(layer.self_attention)
    assert relative_error(explicit(images), vit(images)) < 1e-12
    expected = []
    for image, c in zip(images, classes):
        explicit(image[None])[0, c].backward()
        relevance = torch.eye(17, dtype=torch.float64)
        for layer in explicit.encoder.layers:
            a = layer.self_attention.probabilities
            relevance = relevance + (a.grad * a).detach().clamp_min(0).mean(dim=1)[0] @ relevance
        expected.append(relevance[0, 1:].reshape(4, 4))
    assert torch.stack(expected).abs().max() > 1e-3
    assert relative_error(maps, torch.stack(expected)) < 1e-10


def test_chefer_relevance_errors():
    model = random_vit("cls")
    images = torch.randn(2, 1, 16, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match="class index out of range") as said:
        chefer_relevance(model, images, [0, 5])
    assert "\n" not in str(said.value)
    with pytest.raises(ValueError, match=r"for one class c for every image pass \[c\] \* len\(images\)"):
        chefer_relevance(model, images, 3)
    with pytest.raises(TypeError, match="Sequential has no attention layers that chefer_relevance can read") as said:
        chefer_relevance(nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                       nn.Linear(4, 2)).double(), images)
    assert "\n" not in str(said.value)
    with pytest.raises(RuntimeError, match="needs gradients"), torch.no_grad():
        chefer_relevance(model, images)
    with pytest.raises(ValueError, match=r"built for images \[B, 1, 16, 16\]"):
        chefer_relevance(model, torch.randn(2, 1, 8, 8, dtype=torch.float64))
    assert hooks_of(model) == 0 and all(p.grad is None for p in model.parameters())

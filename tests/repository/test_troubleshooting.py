"""docs/troubleshooting.md quotes what camlib says: each quoted message is produced here, and must match.

A quote marked ``<!-- says: NAME -->`` is compared with the message of the case NAME below, ``…`` in
the quote standing for any text (the parts that depend on the call: paths, torch's own sentence).
"""

from __future__ import annotations

import re
import sys
import types
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import VGG16_Weights, vgg11

from camlib.lab import launch, viz
from camlib.methods import cam
from camlib.methods.gradcam import grad_cam
from camlib.methods.token_cams import compute_token_cams, token_reshape
from camlib.models import GAPNet, pretrained
from camlib.models.vit import TinyViT

DOC = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
QUOTE = re.compile(r"<!-- says: (\w+) -->\n```text\n(.*?)\n```", re.S)


def quotes() -> dict[str, str]:
    return dict(QUOTE.findall(DOC.read_text()))


def gapnet() -> GAPNet:
    torch.manual_seed(0)
    return GAPNet(in_channels=1, num_classes=3, widths=(4, 8)).eval()


def message_of(call) -> str:
    """The one-line message of the exception or warning ``call`` raises (or the line it prints)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except Exception as error:  # the message is the point
            return str(error)
    assert caught, "the call neither raised nor warned"
    return str(caught[0].message)


class Detaching(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.features(x).detach().mean(dim=(2, 3)))


def no_grad_call():
    with torch.no_grad():
        grad_cam(gapnet(), "features", torch.randn(2, 1, 28, 28))


def vit_last_block():
    vit = TinyViT(image_size=28, patch_size=7, in_channels=1, num_classes=3, dim=16, depth=2, heads=2, head="cls")
    grad_cam(vit.eval(), "norm", torch.randn(2, 1, 28, 28), reshape=token_reshape(4, 1))


def colab(monkeypatch, online: bool):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if not online:
        def unreachable(*args, **kwargs):
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        monkeypatch.setattr(urllib.request, "urlopen", unreachable)


def offline_line(monkeypatch, tmp_path, capsys) -> str:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def no_network(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno 101] Network is unreachable")
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert pretrained.pretrained_weights(VGG16_Weights.IMAGENET1K_V1).weights is None
    return capsys.readouterr().out.strip()


CASES = {
    "no_grad": lambda mp, tmp, cap: message_of(no_grad_call),
    "detached": lambda mp, tmp, cap: message_of(lambda: grad_cam(Detaching(), "features", torch.randn(2, 1, 9, 9))),
    "layer_name": lambda mp, tmp, cap: message_of(lambda: grad_cam(gapnet(), "featurez", torch.randn(2, 1, 28, 28))),
    "vit_last_block": lambda mp, tmp, cap: message_of(vit_last_block),
    "grey": lambda mp, tmp, cap: message_of(lambda: grad_cam(vgg11().eval(), "features", torch.rand(1, 1, 64, 64))),
    "no_batch": lambda mp, tmp, cap: message_of(lambda: grad_cam(gapnet(), "features", torch.randn(28, 28))),
    "nan_images": lambda mp, tmp, cap: message_of(
        lambda: grad_cam(gapnet(), "features", torch.full((1, 1, 28, 28), float("nan")))),
    "channels_last": lambda mp, tmp, cap: message_of(lambda: viz.image_to_numpy(torch.rand(28, 28, 3))),
    "colab_cpu": lambda mp, tmp, cap: (colab(mp, online=True), message_of(launch.check_runtime))[1],
    "offline": offline_line,
    "tests_missing": lambda mp, tmp, cap: message_of(
        lambda: launch.student_tests("01_cam_equations", ["ex01_1"], folder=tmp / "tests")),
    "tests_offline_colab": lambda mp, tmp, cap: (colab(mp, online=False), message_of(
        lambda: launch.student_tests("01_cam_equations", ["ex01_1"], folder=tmp / "tests")))[1],
}


def test_every_quote_has_a_case_and_every_case_a_quote():
    assert set(quotes()) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_page_quotes_what_camlib_says(name, monkeypatch, tmp_path, capsys):
    said = CASES[name](monkeypatch, tmp_path, capsys)
    quote = quotes()[name]
    pattern = ".*?".join(re.escape(part) for part in quote.split("…"))
    assert re.fullmatch(pattern, said, flags=re.S), f"docs/troubleshooting.md quotes\n  {quote}\ncamlib says\n  {said}"


def test_camlib_leaves_a_model_with_the_hooks_it_came_with_even_when_the_call_fails():
    model = gapnet()

    def hooks() -> int:
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    mine = model.features.register_forward_hook(lambda *args: None)
    for call in (lambda: grad_cam(model, "features", torch.randn(2, 1, 28, 28)),
                 lambda: grad_cam(model, "features", torch.randn(2, 3, 28, 28)),  # fails inside the forward
                 lambda: cam.compute_cams(model, torch.randn(2, 1, 28, 28)),
                 lambda: cam.compute_cams(model, torch.randn(2, 3, 28, 28))):
        try:
            call()
        except ValueError:
            pass
        assert hooks() == 1
    mine.remove()
    vit = TinyViT(image_size=28, patch_size=7, in_channels=1, num_classes=3, dim=16, depth=2, heads=2, head="mean")
    for images in (torch.randn(2, 1, 28, 28), torch.randn(2, 3, 28, 28)):
        try:
            compute_token_cams(vit.eval(), images)
        except ValueError:
            pass
        assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in vit.modules()) == 0

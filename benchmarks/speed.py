"""Speed of CAM, Grad-CAM and Score-CAM: camlib against pytorch-grad-cam and torchcam, side by side.

For each model, every method runs on the same model, batch and layer, in one process: a few
warm-up calls, then the median of repeated calls. Times are also given as ratios to a plain
forward pass (``torch.no_grad()``, eval mode). Run:

    python benchmarks/speed.py                    # CPU, 2 threads (the course laptop)
    python benchmarks/speed.py --device cuda      # on a GPU, when there is one

Writes a markdown table and a JSON file under benchmarks/results/ and prints the table.
pytorch-grad-cam (``pip install grad-cam``) and torchcam are test dependencies; a peer that
is not installed is reported as missing.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18

from camlib.methods.attribution import hirescam, layercam, score_cam
from camlib.methods.cam import compute_cams, normalize_cams, upsample_cams
from camlib.methods.gradcam import grad_cam
from camlib.models import GAPNet

RESULTS = Path(__file__).resolve().parent / "results"


def timed(call: Callable[[], object], device: torch.device) -> float:
    start = time.perf_counter()
    call()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def methods(model: nn.Module, layer: nn.Module, images: torch.Tensor) -> dict[str, Callable]:
    """name -> setup(); setup() returns (call, cleanup), so each method's hooks exist only
    while that method is timed."""
    size = tuple(images.shape[-2:])

    def plain_forward():
        with torch.no_grad():
            return model(images)

    def cam():  # logits + the predicted class's CAM, upsampled to the input
        with torch.no_grad():
            return compute_cams(model, images, "predicted")

    def gradcam():  # what pytorch-grad-cam returns: upsampled to the input, min-max normalized
        return normalize_cams(upsample_cams(grad_cam(model, layer, images), size), "minmax")

    def hires():  # the same output as pytorch-grad-cam's: ReLU, upsampled to the input, min-max normalized
        return normalize_cams(upsample_cams(hirescam(model, images, layer=layer, relu=True), size), "minmax")

    def layer_cam():
        return normalize_cams(upsample_cams(layercam(model, images, layer=layer), size), "minmax")

    def pytorch_grad_cam(method: str = "GradCAM"):
        def setup():
            import pytorch_grad_cam

            extractor = getattr(pytorch_grad_cam, method)(model=model, target_layers=[layer])
            return (lambda: extractor(input_tensor=images, targets=None)), extractor.activations_and_grads.release

        return setup

    def torchcam(method: str):
        def setup():
            from torchcam import methods as torchcam_methods

            extractor = getattr(torchcam_methods, method)(model, target_layer=layer, **(
                {"fc_layer": model.fc if hasattr(model, "fc") else model.classifier} if method == "CAM" else {}))

            def call():
                with torch.set_grad_enabled(method != "CAM"):
                    scores = model(images)
                return extractor(scores.argmax(dim=1).tolist(), scores)

            return call, extractor.remove_hooks

        return setup

    def ours(call):
        return lambda: (call, lambda: None)

    return {
        "plain forward": ours(plain_forward),
        "camlib CAM": ours(cam),
        "camlib Grad-CAM": ours(gradcam),
        "pytorch-grad-cam GradCAM": pytorch_grad_cam("GradCAM"),
        "camlib HiResCAM": ours(hires),
        "pytorch-grad-cam HiResCAM": pytorch_grad_cam("HiResCAM"),
        "camlib LayerCAM": ours(layer_cam),
        "pytorch-grad-cam LayerCAM": pytorch_grad_cam("LayerCAM"),
        "torchcam CAM": torchcam("CAM"),
        "torchcam GradCAM": torchcam("GradCAM"),
    }


def score_cam_methods(model: nn.Module, layer: nn.Module, images: torch.Tensor) -> dict[str, Callable]:
    """Score-CAM costs one forward pass per channel and image: camlib's own code against pytorch-grad-cam's,
    the same classes (predicted), batches of 64 masked images, maps at image size in [0, 1]."""

    def plain_forward():
        with torch.no_grad():
            return model(images)

    def pytorch_grad_cam():
        import contextlib
        import io

        from pytorch_grad_cam import ScoreCAM

        extractor = ScoreCAM(model=model, target_layers=[layer])
        extractor.batch_size = 64

        def call():
            with contextlib.redirect_stderr(io.StringIO()):  # their per-image progress bars
                return extractor(input_tensor=images, targets=None)

        return call, extractor.activations_and_grads.release

    return {
        "plain forward": lambda: (plain_forward, lambda: None),
        "camlib Score-CAM": lambda: ((lambda: score_cam(model, images, layer=layer, batch_size=64)), lambda: None),
        "pytorch-grad-cam ScoreCAM": pytorch_grad_cam,
    }


def benchmark(name, model, layer, images, device, warmup, repeats, suite=methods) -> list[dict]:
    """Rounds over all methods, so drifting machine load touches every method alike."""
    model = model.to(device).eval()
    images = images.to(device)
    times: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    for round_index in range(warmup + repeats):
        for method, setup in suite(model, layer, images).items():
            if method in notes:
                continue
            try:
                call, cleanup = setup()
            except ImportError as missing:
                notes[method] = f"not installed ({missing})"
                continue
            try:
                seconds = timed(call, device)
            finally:
                cleanup()
            if round_index >= warmup:
                times.setdefault(method, []).append(seconds)
    rows = [{"model": name, "method": method, "seconds": statistics.median(values)} for method, values in times.items()]
    rows += [{"model": name, "method": method, "seconds": None, "note": note} for method, note in notes.items()]
    forward = rows[0]["seconds"]
    for row in rows:
        row["ratio_to_forward"] = row["seconds"] / forward if row["seconds"] else None
    return rows


def markdown(rows: list[dict], settings: dict) -> str:
    lines = [
        f"Device: {settings['device_name']}, {settings['threads']} threads, torch {settings['torch']}; "
        f"median of {settings['repeats']} calls after {settings['warmup']} warm-up calls.",
        "",
        "| model | method | ms per batch | × plain forward |",
        "| --- | --- | ---: | ---: |",
    ]
    for row in rows:
        seconds = "–" if row["seconds"] is None else f"{1000 * row['seconds']:.1f}"
        ratio = "–" if row["ratio_to_forward"] is None else f"{row['ratio_to_forward']:.2f}"
        lines.append(f"| {row['model']} | {row['method']} | {seconds} | {ratio} |")
    by_key = {(r["model"], r["method"]): r["seconds"] for r in rows}
    for model in dict.fromkeys(r["model"] for r in rows):
        for camlib_name, theirs_name in (("Grad-CAM", "GradCAM"), ("HiResCAM", "HiResCAM"), ("LayerCAM", "LayerCAM")):
            ours = by_key.get((model, f"camlib {camlib_name}"))
            theirs = by_key.get((model, f"pytorch-grad-cam {theirs_name}"))
            if ours and theirs:
                lines.append(f"\n{model}: camlib {camlib_name} is {theirs / ours:.2f}× faster than pytorch-grad-cam's "
                             f"{theirs_name}.")
        ours, grad = by_key.get((model, "camlib HiResCAM")), by_key.get((model, "camlib Grad-CAM"))
        layer_time = by_key.get((model, "camlib LayerCAM"))
        if ours and grad and layer_time:
            lines.append(f"\n{model}: camlib HiResCAM and LayerCAM take {ours / grad:.2f}× and "
                         f"{layer_time / grad:.2f}× camlib Grad-CAM's time.")
        ours, theirs = by_key.get((model, "camlib Score-CAM")), by_key.get((model, "pytorch-grad-cam ScoreCAM"))
        if ours and theirs:
            lines.append(f"\n{model}: camlib Score-CAM is {theirs / ours:.2f}× faster than "
                         "pytorch-grad-cam's ScoreCAM.")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2, the course laptop)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch", type=int, default=16, help="resnet18 batch size (default 16)")
    parser.add_argument("--mnist-batch", type=int, default=256, help="GAPNet batch size (default 256)")
    parser.add_argument("--score-cam-batch", type=int, default=16,
                        help="GAPNet batch size for Score-CAM, 64 forward passes per image (default 16)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for speed.md and speed.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    resnet = resnet18(weights=None)
    gapnet = GAPNet(in_channels=1, num_classes=10, widths=(16, 32, 64))
    rows = benchmark(f"resnet18 224×224, batch {args.batch}", resnet, resnet.layer4,
                     torch.randn(args.batch, 3, 224, 224), device, args.warmup, args.repeats)
    rows += benchmark(f"GAPNet 28×28, batch {args.mnist_batch}", gapnet, gapnet.features,
                      torch.rand(args.mnist_batch, 1, 28, 28), device, args.warmup, args.repeats)
    rows += benchmark(f"GAPNet 28×28, batch {args.score_cam_batch} (Score-CAM)", gapnet, gapnet.features,
                      torch.rand(args.score_cam_batch, 1, 28, 28), device, 1, max(3, args.repeats // 3),
                      suite=score_cam_methods)

    settings = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU",
        "threads": args.threads, "warmup": args.warmup, "repeats": args.repeats, "torch": torch.__version__,
    }
    table = markdown(rows, settings)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "" if device.type == "cpu" else f"_{device.type}"
    (args.out / f"speed{suffix}.md").write_text(table + "\n")
    (args.out / f"speed{suffix}.json").write_text(json.dumps({"settings": settings, "rows": rows}, indent=2))
    print(table)
    return rows


if __name__ == "__main__":
    main()

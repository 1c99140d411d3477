"""Speed of faithfulness metrics: camlib against Quantus and pytorch-grad-cam, side by side.

Every method scores the same model, images, maps and classes in one process, and the values are
checked against camlib's on the spot (the "max |Δ|" column). Rounds go over all methods, so
drifting machine load touches every method alike; times are medians over the rounds, as wall
time and as CPU time of this process (all its threads; steadier on a shared machine). Run:

    python benchmarks/faithfulness_speed.py                   # CPU, 2 threads (the course laptop)
    python benchmarks/faithfulness_speed.py --json out.json   # also write the rows as JSON

Workloads: the trained MNIST GAPNet (``camlib.lab.mnist_recipe.checkpoint_path("gapnet", quick)``) on MNIST
test digits with their CAMs, when the checkpoint and the digits are there; and always a
random-weight GAPNet on uniform noise with random maps (no pixel equals the substrate, so
camlib cannot skip a step: the worst case for it). CAMs are bilinear upsamplings with tied
values, and Quantus's and pytorch-grad-cam's ``np.argsort`` and ``np.percentile`` break ties
their own way, so every map is replaced by its pixels' ranks (camlib's stable order): one pixel
order for every method, and the same pixel order as the map's.

Peers, configured to camlib's conventions:
* deletion: Quantus ``PixelFlipping(features_in_step=step, perturb_baseline=0.0, normalise=False,
  abs=False)``, ``softmax=True``; its curve lacks the unperturbed point (camlib's point 0).
* insertion: Quantus has none. The peer is RISE's ``CausalMetric.evaluate`` loop (one forward
  pass of the whole batch per step, pixels copied in NumPy), re-implemented here in a few lines.
* ROAD (MoRF, 10 ... 90 % removed): pytorch-grad-cam's ``RemoveMostRelevantFirst`` with
  ``NoisyLinearImputer(noise=0)`` (no noise, so values can be compared), one percentile at a time.
  Its percentile is the percent *kept*; camlib is given the pixel counts it removes.

The "camlib, weights in their own layout" rows run camlib with its channels_last switch off
(``camlib.methods.cam.channels_last_on_cpu``): what that layout is worth, apart from the work camlib skips.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from unittest import mock

import numpy as np
import torch
from torch import nn

from camlib.methods.cam import compute_cams
from camlib.metrics import faithfulness
from camlib.metrics.faithfulness import blur_substrate, deletion, insertion, road, salient_ranks
from camlib.models import GAPNet

PERCENTILES_KEPT = (90, 80, 70, 60, 50, 40, 30, 20, 10)  # pytorch-grad-cam's: 10 ... 90 % removed


def workloads(count: int, device: torch.device) -> list[tuple[str, nn.Module, torch.Tensor]]:
    """(name, model, images): trained GAPNet on MNIST digits when available, random GAPNet on noise."""
    found = []
    try:
        from camlib import config, data, train
        from camlib.lab import mnist_recipe as mnist

        model = train.load_checkpoint(mnist.checkpoint_path("gapnet", config.get_profile("quick"))).model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            digits = data.load_digits("mnist", download=False).test.images[:count]
        found.append(("MNIST digits, trained GAPNet, CAMs", model, digits))
    except (OSError, ValueError, RuntimeError) as missing:
        print(f"(no trained MNIST GAPNet or digits, so noise only: {str(missing).splitlines()[0]})")
    torch.manual_seed(0)
    noise = ("uniform noise, random GAPNet, random maps", GAPNet(in_channels=1, num_classes=10, widths=(16, 32, 64)),
             torch.rand(count, 1, 28, 28))
    return [(name, model.to(device).eval(), images.to(device)) for name, model, images in [*found, noise]]


def explain(model: nn.Module, images: torch.Tensor, random_maps: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted classes and their maps (CAMs or uniform noise) as pixel ranks: no two pixels tie."""
    with torch.no_grad():
        out = compute_cams(model, images, "predicted", normalize="minmax")
    noise = torch.rand(out.cams.shape, generator=torch.Generator().manual_seed(1)).to(images)
    maps = noise if random_maps else out.cams
    # 0 for the least salient pixel ... H*W - 1 for the most (ties in raster order, as camlib): exact in
    # float32, where a small jitter added to a CAM can round away and leave ties that each peer breaks its own way
    return out.logits.argmax(dim=1), (maps[0].numel() - 1 - salient_ranks(maps)).view_as(maps).to(images.dtype)


class Counter:
    """Counts the images a model is run on, and the wall time spent inside its forward passes.

    The forward time bounds what any implementation could gain while running the same images
    through the same model: the rest of a method's time is all that better code can remove.
    """

    def __init__(self, model: nn.Module):
        self.images, self.forward_seconds, self._start = 0, 0.0, None
        self.handles = [model.register_forward_pre_hook(self._enter), model.register_forward_hook(self._leave)]

    def _synchronize(self, tensor: torch.Tensor) -> None:
        if tensor.device.type == "cuda":
            torch.cuda.synchronize(tensor.device)

    def _enter(self, _module, inputs):
        self._synchronize(inputs[0])
        self.images += len(inputs[0])
        self._start = time.perf_counter()

    def _leave(self, _module, inputs, _output):
        self._synchronize(inputs[0])
        self.forward_seconds += time.perf_counter() - self._start

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def rise_insertion(model: nn.Module, images: torch.Tensor, maps: torch.Tensor, classes: torch.Tensor,
                   step: int) -> np.ndarray:
    """RISE's ``CausalMetric.evaluate`` for insertion: a loop over steps, the batch scored at each."""
    n, channels, pixels = len(images), images.shape[1], images.shape[-2] * images.shape[-1]
    n_steps = (pixels + step - 1) // step
    start = blur_substrate(images).cpu().numpy().copy()
    finish = images.cpu().numpy()
    order = np.flip(np.argsort(maps.reshape(n, -1).cpu().numpy(), axis=1), axis=-1)
    rows = np.arange(n)[:, None]
    scores = np.empty((n_steps + 1, n))
    for i in range(n_steps + 1):
        with torch.no_grad():
            probabilities = torch.softmax(model(torch.from_numpy(start).to(images)), dim=1)
        scores[i] = probabilities[torch.arange(n), classes].cpu().numpy()
        coords = order[:, step * i:step * (i + 1)]
        start.reshape(n, channels, pixels)[rows, :, coords] = finish.reshape(n, channels, pixels)[rows, :, coords]
    return scores.T


AS_BUILT = "camlib, weights in their own layout"


def as_built(call: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
    """``call`` with camlib's channels_last switch off: what that layout is worth."""

    def run() -> np.ndarray:
        with mock.patch.object(faithfulness, "channels_last_on_cpu", lambda model, images: nullcontext(False)):
            return call()

    return run


def methods(model, images, maps, classes, step) -> dict[tuple[str, str], Callable[[], np.ndarray]]:
    """(metric, method) -> a call returning comparable values (curves, or ROAD scores [B, P])."""
    labels = classes.cpu().numpy()

    def quantus_pixel_flipping():
        import quantus

        metric = quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.0, normalise=False, abs=False,
                                       disable_warnings=True)
        with warnings.catch_warnings():  # "perturbation caused no change": MNIST's background, deleted into zeros
            warnings.simplefilter("ignore")
            curves = metric(model=model, x_batch=images.cpu().numpy(), y_batch=labels,
                            a_batch=maps[:, None].cpu().numpy(), softmax=True, device=str(images.device),
                            batch_size=len(images))
        return np.array(curves)

    removed = [road_count(maps[0], q) for q in PERCENTILES_KEPT]  # the same for every untied map
    pixels = maps.shape[-2] * maps.shape[-1]

    def pytorch_grad_cam_road():
        from pytorch_grad_cam.metrics.perturbation_confidence import (
            PerturbationConfidenceMetric,
            RemoveMostRelevantFirst,
        )
        from pytorch_grad_cam.metrics.road import NoisyLinearImputer
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget

        targets = [ClassifierOutputSoftmaxTarget(int(c)) for c in labels]
        return np.stack([
            PerturbationConfidenceMetric(RemoveMostRelevantFirst(q, NoisyLinearImputer(noise=0)))(
                images, maps.cpu().numpy(), targets, model, return_diff=False) for q in PERCENTILES_KEPT], axis=1)

    def camlib_deletion():
        return deletion(model, images, maps, classes, step=step).scores[:, 1:].cpu().numpy()

    def camlib_insertion():
        return insertion(model, images, maps, classes, step=step).scores.cpu().numpy()

    return {
        ("deletion", "camlib"): camlib_deletion,
        ("deletion", AS_BUILT): as_built(camlib_deletion),
        ("deletion", "Quantus PixelFlipping"): quantus_pixel_flipping,
        ("insertion", "camlib"): camlib_insertion,
        ("insertion", AS_BUILT): as_built(camlib_insertion),
        ("insertion", "RISE step loop"): lambda: rise_insertion(model, images, maps, classes, step),
        ("ROAD MoRF ×9", "camlib"): lambda: road(
            model, images, maps, classes, percentages=[100 * (r + 0.5) / pixels for r in removed], noise=0
        ).scores.cpu().numpy(),
        ("ROAD MoRF ×9", "pytorch-grad-cam"): pytorch_grad_cam_road,
    }


def road_count(single_map: torch.Tensor, kept_percentile: float) -> int:
    """Pixels pytorch-grad-cam's MoRF removes: those at or above the ``kept_percentile``-th percentile."""
    values = single_map.cpu().numpy()
    return int((values >= np.percentile(values, kept_percentile)).sum())


def benchmark(name, model, images, step, rounds, warmup) -> list[dict]:
    classes, maps = explain(model, images, random_maps=name.startswith("uniform"))
    calls = methods(model, images, maps, classes, step)
    times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    cpu_times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    forward_times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
    values, scored, notes = {}, {}, {}
    for round_index in range(warmup + rounds):
        for key, call in calls.items():
            if key in notes:
                continue
            counter = Counter(model)
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                values[key] = call()
            except ImportError as missing:
                notes[key] = f"not installed ({missing})"
                continue
            finally:
                if images.device.type == "cuda":
                    torch.cuda.synchronize()
                seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
                counter.remove()
            scored[key] = counter.images
            if round_index >= warmup:
                times[key].append(seconds)
                cpu_times[key].append(cpu_seconds)
                forward_times[key].append(counter.forward_seconds)
    rows = []
    for (metric, method), seconds in times.items():
        ours = values.get((metric, "camlib"))
        row = {"workload": name, "metric": metric, "method": method, "images": len(images),
               "ms_per_image": 1000 * statistics.median(seconds) / len(images) if seconds else None,
               "cpu_ms_per_image": 1000 * statistics.median(cpu_times[(metric, method)]) / len(images)
               if seconds else None,
               "forward_share": statistics.median(forward_times[(metric, method)]) / statistics.median(seconds)
               if seconds else None,
               "images_scored": scored.get((metric, method)), "note": notes.get((metric, method))}
        if method != "camlib" and ours is not None and (metric, method) in values:
            row["max_abs_diff"] = float(np.abs(values[(metric, method)] - ours).max())
        rows.append(row)
    for row in rows:
        ours = next(r for r in rows if r["metric"] == row["metric"] and r["method"] == "camlib")
        if row["ms_per_image"] and ours["ms_per_image"]:
            row["speedup_of_camlib"] = row["ms_per_image"] / ours["ms_per_image"]
            row["cpu_speedup_of_camlib"] = row["cpu_ms_per_image"] / ours["cpu_ms_per_image"]
        if row["method"] != "camlib" and row["forward_share"] and row["images_scored"] and ours["images_scored"]:
            # Amdahl: code that ran camlib's images through the model and nothing else
            fewer_images = row["images_scored"] / ours["images_scored"]
            row["ceiling_speedup"] = fewer_images / row["forward_share"]
    return rows


def markdown(rows: list[dict], settings: dict) -> str:
    lines = [
        f"Device: {settings['device_name']}, {settings['threads']} threads, torch {settings['torch']}; "
        f"{settings['images']} images of 28×28, step {settings['step']} ({settings['steps']} steps); "
        f"median of {settings['rounds']} rounds after {settings['warmup']} warm-up round(s).",
        "",
        "| workload | metric | method | ms per image (wall / CPU) | images through the model "
        "| time in forward passes | max abs diff vs camlib | camlib speed-up (wall / CPU) | ceiling |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ms = "–" if row["ms_per_image"] is None else f"{row['ms_per_image']:.1f} / {row['cpu_ms_per_image']:.1f}"
        diff = f"{row['max_abs_diff']:.1e}" if "max_abs_diff" in row else "–"
        speed = (f"{row['speedup_of_camlib']:.1f}× / {row['cpu_speedup_of_camlib']:.1f}×"
                 if row["method"] != "camlib" and "speedup_of_camlib" in row else "–")
        method = row["method"] + (f" ({row['note']})" if row.get("note") else "")
        share = "–" if row["forward_share"] is None else f"{row['forward_share']:.0%}"
        ceiling = f"{row['ceiling_speedup']:.1f}×" if "ceiling_speedup" in row else "–"
        lines.append(f"| {row['workload']} | {row['metric']} | {method} | {ms} | {row['images_scored'] or '–'} "
                     f"| {share} | {diff} | {speed} | {ceiling} |")
    lines += ["", "Ceiling: the largest wall-time speed-up any code could reach over the peer while running camlib's "
              "images through the same model at the peer's cost per image (peer time / (peer forward time × camlib "
              "images / peer images)); only cheaper forward passes (camlib's channels_last on the CPU) pass it."]
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2, the course laptop)")
    parser.add_argument("--images", type=int, default=64, help="images per workload (default 64)")
    parser.add_argument("--step", type=int, default=16, help="pixels per step (default 16: 49 steps on 28×28)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", type=str, default=None, help="also write settings and rows to this JSON file")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for name, model, images in workloads(args.images, device):
        rows += benchmark(name, model, images, args.step, args.rounds, args.warmup)
    settings = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU",
        "threads": args.threads, "images": args.images, "step": args.step, "steps": -(-784 // args.step),
        "rounds": args.rounds, "warmup": args.warmup, "torch": torch.__version__,
    }
    table = markdown(rows, settings)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"settings": settings, "rows": rows}, file, indent=2)
    print(table)
    return rows


if __name__ == "__main__":
    main()

"""VGG16-GAP throughput on one device: fine-tuning steps and CAM inference, fp32 / AMP x channels_last off / on.

    python benchmarks/gpu_throughput.py                   # camlib.config.get_device(): batch 64, 224x224
    python benchmarks/gpu_throughput.py --device cpu --batch-size 4 --steps 2 --warmup 1 --image-size 64  # smoke

The images are random tensors already on the device (no data loading is measured) and the network is
``vgg16_gap(num_classes=1000)`` with random weights. A fine-tuning step is ``camlib.train.finetune.train_step``,
the step ``python -m camlib.train.finetune`` runs: forward, cross-entropy, backward and SGD with momentum
(with AMP: float16 autocast and a ``GradScaler``). CAM inference is ``camlib.methods.cam.compute_cams(model,
images, "predicted")`` under ``torch.no_grad()`` in eval mode: one forward pass, then the predicted
class's CAM upsampled to the input. Each row runs ``--warmup`` calls, then times ``--steps`` calls
(``torch.cuda.synchronize`` before the clock stops, through ``benchmarks/speed.py``'s ``timed``).

AMP rows need CUDA (float16 with a GradScaler, as the fine-tuning command uses it); elsewhere they are
listed as skipped. Prints a markdown table; ``--out DIR`` also writes it with a JSON file.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from camlib.config import get_device
from camlib.methods.cam import compute_cams
from camlib.models import vgg16_gap
from camlib.train.finetune import maybe_autocast, precision, train_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import timed  # benchmarks/speed.py: one call, synchronized on CUDA  # noqa: E402

TASKS = ("fine-tuning step", "CAM inference")


def measure(task: str, device: torch.device, amp: bool, channels_last: bool, args) -> dict:
    """Images per second of one configuration, and the peak memory it allocated on CUDA."""
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = vgg16_gap(num_classes=1000).to(device, memory_format=memory_format)
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    images = images.contiguous(memory_format=memory_format)
    labels = torch.randint(0, 1000, (args.batch_size,), device=device)
    dtype, scaler = precision(device, amp)
    if task == "fine-tuning step":
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def call():
            train_step(model, images, labels, optimizer, scaler, dtype)
    else:
        model.eval()

        def call():
            with torch.no_grad(), maybe_autocast(device, dtype):
                compute_cams(model, images, "predicted")

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        timed(call, device)
    seconds = timed(lambda: [call() for _ in range(args.steps)], device)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"images_per_second": args.batch_size * args.steps / seconds, "ms_per_batch": 1000 * seconds / args.steps,
            "peak_gib": peak}


def markdown(rows: list[dict], settings: dict) -> str:
    lines = [
        f"Device: {settings['device_name']} ({settings['device']}), torch {settings['torch']}; "
        "VGG16-GAP (1000 classes), "
        f"batch {settings['batch_size']}, {settings['image_size']}x{settings['image_size']} random images; "
        f"{settings['steps']} timed calls after {settings['warmup']} warm-up calls.",
        "",
        "| task | precision | channels_last | images/s | ms per batch | peak memory (GiB) |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row.get("skipped"):
            lines.append(f"| {row['task']} | {row['precision']} | {row['channels_last']} | "
                         f"skipped ({row['skipped']}) | – | – |")
            continue
        peak = "–" if row["peak_gib"] is None else f"{row['peak_gib']:.1f}"
        lines.append(f"| {row['task']} | {row['precision']} | {row['channels_last']} | "
                     f"{row['images_per_second']:.1f} | {row['ms_per_batch']:.1f} | {peak} |")
    return "\n".join(lines)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="default: camlib.config.get_device() (CUDA when present)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="timed calls per row (default 20)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (cuDNN autotuning, caches)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=None, help="also write gpu_throughput_<device>.md/.json here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = get_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as camlib.train.finetune sets it
    rows = []
    for task in TASKS:
        for amp in (False, True):
            for channels_last in (False, True):
                row = {"task": task, "precision": "AMP (float16)" if amp else "fp32",
                       "channels_last": "on" if channels_last else "off"}
                if amp and device.type != "cuda":
                    row["skipped"] = "AMP needs CUDA"
                else:
                    row.update(measure(task, device, amp, channels_last, args))
                rows.append(row)
                print(f"  {row['task']}, {row['precision']}, channels_last {row['channels_last']}: "
                      + (f"{row['images_per_second']:.1f} images/s" if "images_per_second" in row else "skipped"),
                      file=sys.stderr, flush=True)

    settings = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU",
        "torch": torch.__version__, "batch_size": args.batch_size, "image_size": args.image_size,
        "steps": args.steps, "warmup": args.warmup,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
    }
    table = markdown(rows, settings)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"gpu_throughput_{device.type}.md").write_text(table + "\n")
        (args.out / f"gpu_throughput_{device.type}.json").write_text(
            json.dumps({"settings": settings, "rows": rows}, indent=2))
    print(table)
    return rows


if __name__ == "__main__":
    main()

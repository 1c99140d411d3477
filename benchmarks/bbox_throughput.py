"""Throughput of camlib.metrics.localize.bbox_from_cam: 16x16 maps per second on one CPU core.

    python benchmarks/bbox_throughput.py [--maps 20000] [--repeats 5]

The maps are smooth blobs plus noise, like upsampled-free CAMs of a stride-4 network on a
64x64 canvas, and pure noise (many small components: the hard case). Prints a table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from camlib.metrics.localize import bbox_from_cam


def blob_maps(count: int, side: int, generator: torch.Generator) -> torch.Tensor:
    rows = torch.arange(side).view(1, side, 1).float()
    cols = torch.arange(side).view(1, 1, side).float()
    maps = torch.zeros(count, side, side)
    for _ in range(4):
        centre = torch.rand(count, 2, 1, 1, generator=generator) * side
        width = 1 + 3 * torch.rand(count, 1, 1, generator=generator)
        height = torch.rand(count, 1, 1, generator=generator)
        maps += height * torch.exp(-((rows - centre[:, 0]) ** 2 + (cols - centre[:, 1]) ** 2) / (2 * width**2))
    return maps + 0.05 * torch.rand(count, side, side, generator=generator)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=int, default=20_000)
    parser.add_argument("--side", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    cases = {
        "4 blobs + noise": blob_maps(args.maps, args.side, generator),
        "uniform noise": torch.rand(args.maps, args.side, args.side, generator=generator),
    }
    print(f"bbox_from_cam, {args.maps} maps of {args.side}x{args.side}, one thread, "
          f"median of {args.repeats} runs\n")
    print("| maps | seconds | maps per second |\n| --- | ---: | ---: |")
    for name, maps in cases.items():
        bbox_from_cam(maps[:100])  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            bbox_from_cam(maps)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        print(f"| {name} | {seconds:.3f} | {args.maps / seconds:,.0f} |")


if __name__ == "__main__":
    main()

"""Swin block execution paths side by side: per-block (each block rolls, pads, partitions and reverses its own map)
against the stage-level "window order" path (tokens stay in window order between blocks; one precomputed gather per
block replaces reverse + roll + partition).

Both paths run the same weights in one process, timed in interleaved repeats (alternating which goes first); the
median images/s is reported per case, mode and path. Rerun on an idle machine:

    python benchmarks/swin_paths.py --repeats 5

The paths are chosen with ``SwinTransformer(keep_window_order=...)``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from lit_vision.nn.swin import SwinTransformer

CASES = {
    "swin_t": (dict(), 32, 224, 3, 1000),
    "swin_digits": (
        dict(img_size=16, patch_size=2, window_size=4, embed_dim=48, depths=(2, 2), num_heads=(3, 6), mlp_ratio=2.0),
        128,
        16,
        1,
        10,
    ),
}


def build(case: str) -> dict[str, SwinTransformer]:
    """The two ways to run the same network: ``keep_window_order`` True ("window_order") and False ("per_block")."""
    kwargs, _, _, in_chans, num_classes = CASES[case]
    torch.manual_seed(0)
    models = {
        name: SwinTransformer(
            in_chans=in_chans, num_classes=num_classes, keep_window_order=name == "window_order", **kwargs
        )
        for name in ("per_block", "window_order")
    }
    models["per_block"].load_state_dict(models["window_order"].state_dict())
    return models


def timed(model: SwinTransformer, mode: str, images, labels, optimizer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        if mode == "train":
            F.cross_entropy(model(images), labels).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode():
                model(images)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0, help="target duration of one timed repeat")
    args = parser.parse_args(argv)
    print(
        "| case | mode | batch | "
        + " | ".join(["per_block img/s", "window_order img/s", "window_order / per_block"])
        + " |"
    )
    print("|---|---|---|---|---|---|")
    for case in args.cases:
        _, batch, size, in_chans, num_classes = CASES[case]
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(batch, in_chans, size, size, generator=generator)
        labels = torch.randint(0, num_classes, (batch,), generator=generator)
        for mode in args.modes:
            models = build(case)
            optimizers = {}
            for name, model in models.items():
                model.train(mode == "train")
                optimizers[name] = torch.optim.AdamW(model.parameters(), lr=1e-4)
                timed(model, mode, images, labels, optimizers[name], 1)  # warm-up
            per_step = max(timed(m, mode, images, labels, optimizers[n], 1) for n, m in models.items())
            steps = max(1, round(args.min_seconds / per_step))
            rates: dict[str, list[float]] = {name: [] for name in models}
            for repeat in range(args.repeats):
                for name in list(models) if repeat % 2 == 0 else list(reversed(models)):
                    seconds = timed(models[name], mode, images, labels, optimizers[name], steps)
                    rates[name].append(steps * batch / seconds)
            median = {name: statistics.median(values) for name, values in rates.items()}
            other = median.get("window_order")
            cells = [f"{median['per_block']:.1f}", f"{other:.1f}" if other else "-"]
            cells.append(f"{other / median['per_block']:.3f}x" if other else "-")
            print(f"| {case} | {mode} | {batch} | " + " | ".join(cells) + " |", flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

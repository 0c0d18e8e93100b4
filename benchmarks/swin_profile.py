"""Where a Swin train step spends its time: torch.profiler over a few train steps (forward + cross-entropy + backward +
AdamW), self CPU time grouped into buckets (GEMMs, attention, memory passes, norms, activations, optimizer, ...) and
the top operators, for ours and (with ``--timm``) timm's same network.

    python benchmarks/swin_profile.py --batch 16 --steps 3 --threads 2 --timm

Self time per operator is what the profiler attributes to the op itself (children excluded), so the buckets add up to
the profiled step time; "% of step" is the share of the summed self CPU time. Every op that runs inside
``optimizer.step()`` counts as "AdamW", whatever its name (CPU AdamW runs one small op per parameter tensor).
"""

from __future__ import annotations

import argparse
import collections
import sys

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

# operator name (without "aten::") -> bucket; anything not listed goes to "other"
BUCKETS = {
    "GEMM (linear/bmm/conv)": (
        "addmm",
        "addmm_",
        "mm",
        "bmm",
        "matmul",
        "linear",
        "convolution",
        "mkldnn_convolution",
        "baddbmm",
    ),
    "attention kernel (SDPA)": (
        "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention_for_cpu_backward",
    ),
    "softmax fwd/bwd": ("_softmax", "_softmax_backward_data"),
    "copies (contiguous/clone/cat/pad)": ("copy_", "clone", "cat", "constant_pad_nd", "_to_copy", "contiguous"),
    "roll / gather / scatter": (
        "roll",
        "index_select",
        "index",
        "gather",
        "index_add_",
        "index_put_",
        "scatter",
        "embedding_dense_backward",
        "index_copy_",
    ),
    "LayerNorm fwd/bwd": ("native_layer_norm", "native_layer_norm_backward"),
    "GELU fwd/bwd": ("gelu", "gelu_backward"),
    "elementwise (add/mul/fill)": (
        "add",
        "add_",
        "mul",
        "mul_",
        "fill_",
        "zero_",
        "where",
        "masked_fill",
        "masked_fill_",
        "div",
        "div_",
        "sum",
    ),
}
OP_TO_BUCKET = {op: bucket for bucket, ops in BUCKETS.items() for op in ops}


def build(kind: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    import timm

    from lit_vision.interop.timm import from_timm

    torch.manual_seed(0)
    reference = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False)
    model = reference if kind == "timm" else from_timm(reference)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 224, 224, generator=generator)
    labels = torch.randint(0, 1000, (batch,), generator=generator)
    return model.train(), images, labels


def breakdown(kind: str, batch: int, steps: int, top: int) -> None:
    model, images, labels = build(kind, batch)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)

    def step() -> None:
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    by_op: dict[str, float] = collections.Counter()
    calls: dict[str, int] = collections.Counter()
    buckets: dict[str, float] = collections.Counter()
    for event in prof.events():
        name, parent = event.name, event.cpu_parent
        by_op[name] += event.self_cpu_time_total
        calls[name] += 1
        while parent is not None and not parent.name.startswith("Optimizer.step"):
            parent = parent.cpu_parent
        bucket = "AdamW" if parent is not None else OP_TO_BUCKET.get(name.removeprefix("aten::"), "other")
        buckets[bucket] += event.self_cpu_time_total
    total = sum(by_op.values())
    print(f"\n### {kind}: batch {batch}, {steps} steps, {total / steps / 1e6:.3f} s/step (profiled)\n")
    print("| bucket | % of step | s/step |\n|---|---|---|")
    for bucket, micros in sorted(buckets.items(), key=lambda item: -item[1]):
        print(f"| {bucket} | {100 * micros / total:.1f} % | {micros / steps / 1e6:.3f} |")
    print(f"\n| top ops ({kind}) | % of step | calls/step |\n|---|---|---|")
    for op, micros in sorted(by_op.items(), key=lambda item: -item[1])[:top]:
        print(f"| {op} | {100 * micros / total:.1f} % | {calls[op] // steps} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--top", type=int, default=25, help="operators listed")
    parser.add_argument("--timm", action="store_true", help="also profile timm's network")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for kind in ["ours"] + (["timm"] if args.timm else []):
        breakdown(kind, args.batch, args.steps, args.top)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; command: python {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()

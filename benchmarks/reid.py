"""Re-id augmentation throughput: generated images per second, end to end, on this machine.

    .venv/bin/python benchmarks/reid.py                    # demo scale, 16 identities, K = 8
    .venv/bin/python benchmarks/reid.py --quick            # tiny scale, 4 identities, K = 4
    .venv/bin/python benchmarks/reid.py --scale paper --device cuda

A Market-1501 tree of studio people (64 × 128, ``--identities`` training persons plus 2 test
persons, 2 poses × 4 views each) with precomputed IUVs, a studio pose bank and a randomly
initialised generator of ``--scale`` saved as a training checkpoint (weights do not change the
speed) go through ``augment_reid`` into a fresh DST. Figures reported:

  end_to_end_img_s    generated images / wall seconds of the whole run: shard + IUV import,
                      pose bank, plan, originals copy, render, crop + JPEG + write, manifest
  render_img_s        generated images / seconds of the identity-shard step alone
  *_s                 seconds of each step (prepare, originals, shards, finalize)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from dpt_core import storage
from dpt_core.iuv import write_iuv
from dpt_core.models import DensePoseTransfer, get_scale
from dpt_core.reid import AugmentConfig
from dpt_core.reid.stage import augment_shard, copy_originals, finalize_augment, prepare
from dpt_core.studio import generate_dataset, render_samples
from dpt_core.train.checkpoint import save_checkpoint


def build_tree(base: Path, identities: int) -> tuple[Path, Path]:
    """Market tree: persons 0001.. (train), the last two in query (view 0) / gallery."""
    from PIL import Image

    batch = render_samples(identities=identities + 2, poses=2, views=4, size=(128, 64), seed=0)
    tree, iuvs = base / "market", base / "iuvs"
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        (tree / folder).mkdir(parents=True, exist_ok=True)
    iuvs.mkdir()
    for b in range(len(batch)):
        person, pose, view = int(batch.identity[b]), int(batch.pose_index[b]), int(batch.view[b])
        stem = f"{person + 1:04d}_c{view + 1}s1_{100 * pose + view:06d}_01"
        folder = "bounding_box_train"
        if person >= identities:
            folder = "query" if view == 0 else "bounding_box_test"
        else:
            write_iuv(str(iuvs / f"{stem}.iuv.png"), batch.iuv[b].permute(1, 2, 0).numpy())
        Image.fromarray(batch.rgb[b].permute(1, 2, 0).numpy()).save(tree / folder / f"{stem}.jpg")
    return tree, iuvs


def save_random_checkpoint(base: Path, scale: str) -> str:
    torch.manual_seed(0)
    model = DensePoseTransfer.from_config(scale)
    payload = {"models": {"generator": model.state_dict()},
               "scale": get_scale(scale).model_dump(mode="json")}  # fmt: skip
    return save_checkpoint(storage.join(str(base), "runs", f"bench-{scale}"), 1, payload)


def run(config: AugmentConfig) -> dict:
    times, started = {}, time.perf_counter()
    plan = prepare(config)
    times["prepare_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    originals = copy_originals(plan)
    times["originals_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    results = [augment_shard(plan, i) for i in range(plan.shards)]
    times["shards_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    summary = finalize_augment(plan, results, originals)
    times["finalize_s"] = time.perf_counter() - mark
    total = time.perf_counter() - started
    return {
        "generated": summary.generated,
        "end_to_end_img_s": round(summary.generated / total, 2),
        "render_img_s": round(summary.generated / times["shards_s"], 2),
        **{k: round(v, 2) for k, v in times.items()},
        "total_s": round(total, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="demo", choices=["tiny", "demo", "paper"])
    parser.add_argument("--identities", type=int, default=16)
    parser.add_argument("--per-identity", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny scale, 4 identities, K = 4")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.identities, args.per_identity = "tiny", 4, 4
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        tree, iuvs = build_tree(base, args.identities)
        generate_dataset(str(base / "bank"), identities=2, poses=4, views=2, size=128, seed=7)
        checkpoint = save_random_checkpoint(base, args.scale)
        config = AugmentConfig(
            str(tree), str(base / "dst"), str(base / "bank"), checkpoint, args.per_identity,
            iuv_source="precomputed", precomputed_url=str(iuvs), batch_size=args.batch_size,
            device=args.device,
        )  # fmt: skip
        result = {
            "scale": args.scale, "identities": args.identities, "per_identity": args.per_identity,
            "batch_size": args.batch_size, "device": args.device, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "machine": platform.machine(), "load_avg_1m": round(os.getloadavg()[0], 2),
            **run(config),
        }  # fmt: skip
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

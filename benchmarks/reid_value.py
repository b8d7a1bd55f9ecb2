"""Re-id value of augmentation: does ``dpt reid-augment`` make a re-id model better? (issue #18)

    .venv/bin/python benchmarks/reid_value.py --out reid_value.json          # full, 3 seeds
    .venv/bin/python benchmarks/reid_value.py --quick                        # smoke, minutes
    .venv/bin/python benchmarks/reid_value.py --oracle --out reid_value.json # + oracle arm

1. A Market-1501 tree from the studio (``dpt_core.reid.studio_market``): ``--train-ids``
   training persons and ``--test-ids`` query/gallery persons (disjoint), ``--poses`` poses
   seen by ``--views`` cameras, per-image backgrounds, detector-like 128 × 64 crops.
2. The generator (``--generator``): by default seed 0 of the issue-#19 ablation (the demo
   recipe at 400 + 300 + 900 steps on 32 studio persons, ``data/bench/reid-generator``, trained
   here when missing); ``demo`` takes ``make demo``'s run instead. Either was trained on studio
   persons of another seed than the benchmark's (checked).
3. ``dpt reid-augment`` (the real command, in a subprocess) renders every training person in
   ``--per-identity`` poses of a pose bank of other studio persons (never test persons) from
   the training images and their IUVs; the no-test-source check then reads its manifest.
4. torchreid ``osnet_x0_25`` from scratch, trained per seed on each arm's training set with
   the same recipe, seed and epochs (``benchmarks/_reid_train.py``), evaluated on the same
   query/gallery: arm ``original``, arm ``augmented`` and, with ``--oracle``, arm ``oracle``
   (the training persons rendered by the studio itself in as many new poses: a perfect
   generator, to tell render quality from the idea).

Options for the obvious fixes (issue #18), all off by default: ``--added-per-identity K`` trains
on only the first K added images per person (of the ``--per-identity`` made), ``--added-weight
w`` weighs each added image's softmax loss by w (originals 1), ``--pose-bank train`` takes the
target poses from the training images' own IUVs instead of other studio persons. With
``--train-only`` the arms' trees an earlier run left in ``--work`` are reused (only training,
after the no-test-source check), so variants of the recipe do not re-render anything.
``benchmarks/reid_crops.py`` compares the added crops with the real ones.

Reported: rank-1 and mAP (torchreid's ``evaluate_rank``, %) per arm, mean and sample standard
deviation over seeds, the mAP gain of ``augmented`` over ``original``, and wall times. "Same
epochs" means the augmented arm sees more images, hence more iterations (both are reported).
torchreid is not a project dependency: when missing it is pip-installed (``torchreid==0.2.5``
and the ``gdown``, ``beautifulsoup4`` its package ``__init__`` imports) into this interpreter's
environment, with a message saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _reid_train import (
    TrainRecipe,
    chance_level,
    histogram_reference,
    import_torchreid,
    run_arm,
)
from _timing import format_table
from tqdm import tqdm

from dpt_core import storage
from dpt_core.reid.config import WORK_FOLDER
from dpt_core.reid.originals import copy_market_tree
from dpt_core.reid.studio_market import (
    StudioMarketSpec,
    build_studio_market,
    check_generation_sources,
    extra_pose_items,
    render_items,
)
from dpt_core.studio import generate_dataset

ROOT = Path(__file__).resolve().parents[1]
DEMO_ROOT, DEMO_RUN = ROOT / "data/demo", "studio-demo"
DEMO_CONFIG = ROOT / "configs/train/demo.yaml"
ABLATION_WORK = ROOT / "data/bench/reid-generator"
GOAL_MAP_POINTS = 2.0
ARM_GROUPS = (("original", "augmented"), ("oracle",))  # the pair the goal needs comes first
POSE_BANKS = ("others", "train")


def named_generator(run_url: str, studio: str) -> tuple[str, int]:
    """(run folder, studio seed) of ``--generator RUN --generator-studio DIR``: DIR is the
    studio data set the run was trained on (its ``studio.json`` gives the seed)."""
    if not (Path(run_url) / "checkpoints" / "latest").is_file():
        raise FileNotFoundError(f"--generator: no checkpoints/latest in {run_url}")
    meta = Path(studio) / "studio.json"
    if not meta.is_file():
        raise FileNotFoundError(f"--generator-studio: no studio.json in {studio}")
    return run_url, int(json.loads(meta.read_text())["seed"])


def ablation_generator() -> tuple[str, int]:
    """(run folder, studio seed): seed 0 of the issue-#19 ablation (``benchmarks/ablation.py
    --scale demo --seeds 0``: the demo recipe, 400 + 300 + 900 steps on 32 studio persons of
    seed 0), trained here into ``data/bench/reid-generator`` when missing (about 9 minutes)."""
    run_url = ABLATION_WORK / "root" / "runs" / "ablation-seed0"
    if not (run_url / "checkpoints" / "latest").is_file():
        print(f"[reid_value] no generator at {run_url}: training one (ablation seed 0)", flush=True)
        command = [sys.executable, str(ROOT / "benchmarks" / "ablation.py"), "--scale", "demo",
                   "--seeds", "0", "--work", str(ABLATION_WORK)]  # fmt: skip
        subprocess.run(command, check=True, cwd=ROOT)
    return named_generator(str(run_url), str(ABLATION_WORK / "studio"))


def choose_generator(args: argparse.Namespace) -> tuple[str, int]:
    """``--generator``: ``ablation`` (default), ``demo`` or a run folder (with
    ``--generator-studio``); (run folder, the studio seed it was trained on)."""
    if args.generator == "ablation":
        return ablation_generator()
    if args.generator == "demo":
        return demo_generator()
    return named_generator(args.generator, args.generator_studio)


def demo_generator() -> tuple[str, int]:
    """(run folder, studio seed it was trained on): ``make demo``'s generator, trained here
    with the demo recipe (``dpt train --config configs/train/demo.yaml --prepare-studio``)
    when the project has none."""
    from dpt_core.train import check_files, load_config, train
    from dpt_core.train.prepare import prepare_studio

    run_url = str(DEMO_ROOT / "runs" / DEMO_RUN)
    if not (DEMO_ROOT / "runs" / DEMO_RUN / "checkpoints" / "latest").is_file():
        print(f"[reid_value] no generator at {run_url}: training one", flush=True)
        config = load_config(str(DEMO_CONFIG), [f"root={DEMO_ROOT}"], check=False)
        scale = config.model_scale
        prepare_studio(config.root, config.dataset, size=scale.image_size, atlas_n=scale.atlas_n)
        check_files(config)
        train(config)
    studio = json.loads((DEMO_ROOT / "sources" / "studio" / "studio.json").read_text())
    return run_url, int(studio["seed"])


def build_trees(spec: StudioMarketSpec, work: Path) -> tuple[str, str]:
    """The original tree (``work/arms/original/market1501``) and its training IUVs."""
    tree, iuvs = work / "arms/original/market1501", work / "iuvs"
    total = spec.identities * spec.poses * spec.views
    with tqdm(total=total, desc="studio tree", unit="img") as bar:
        build_studio_market(spec, str(tree), str(iuvs), bar.update)
    return str(tree), str(iuvs)


def existing_arms(work: Path) -> dict[str, str]:
    """{arm: torchreid root} of the trees an earlier run left in ``work`` (``--train-only``)."""
    roots = {arm: str(work / "arms" / arm) for group in ARM_GROUPS for arm in group
             if (work / "arms" / arm / "market1501" / "bounding_box_train").is_dir()}  # fmt: skip
    if "original" not in roots:
        raise FileNotFoundError(f"--train-only: no original tree in {work / 'arms'}")
    if (work / "arms/augmented/market1501").is_dir():
        checked = check_generation_sources(str(work / "arms/augmented/market1501"))
        print(f"[reid_value] {checked} generated images: no test person is a source", flush=True)
    return roots


def run_augment(args, tree: str, iuvs: str, bank: str, checkpoint: str, dst: str) -> None:
    """``dpt reid-augment`` on the original tree, as a user runs it."""
    command = [sys.executable, "-m", "dpt_core.cli", "reid-augment", tree, dst,
               "--pose-bank", bank, "--checkpoint", checkpoint,
               "--per-identity", str(args.per_identity), "--iuv-source", "precomputed",
               "--precomputed", iuvs, "--sources-per-identity", "3", "--seed", "0"]  # fmt: skip
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run(command, check=True, cwd=ROOT, env=env)


def pose_bank(args, spec: StudioMarketSpec, work: Path, dst: str) -> str:
    """The ``--pose-bank`` URL. ``others``: a studio data set of ``--bank-ids`` persons of
    another seed (4 poses × 2 views); ``train``: the training images' own IUVs, as
    ``dpt reid-augment`` ingests them into DST's work root (then its plan keeps the training
    keys only: every training person's poses, the person's own included)."""
    if args.pose_bank == "train":
        return f"{dst}/{WORK_FOLDER}/densepose/market1501/precomputed"
    bank = str(work / "posebank")
    generate_dataset(bank, identities=args.bank_ids, poses=4, views=2, size=128,
                     seed=spec.seed + 1000, scenes="random")  # fmt: skip
    return bank


def build_oracle(spec: StudioMarketSpec, tree: str, dst: str, per_identity: int) -> None:
    """The original tree plus the training persons in ``per_identity`` new studio poses."""
    copy_market_tree(tree, dst)
    items = extra_pose_items(spec, per_identity)
    with tqdm(total=len(items), desc="oracle poses", unit="img") as bar:
        render_items(spec, items, dst, None, bar.update)


def prepare_arms(args, spec: StudioMarketSpec, work: Path, times: dict) -> dict[str, str]:
    """Trees of every arm (the torchreid root of each); fills ``times``."""
    mark = time.perf_counter()
    checkpoint, generator_seed = choose_generator(args)
    print(f"[reid_value] generator {checkpoint} (studio seed {generator_seed})", flush=True)
    if generator_seed == spec.seed:
        raise ValueError(f"seed: the generator was trained on studio seed {generator_seed}; "
                         "the benchmark's persons must come from another seed")  # fmt: skip
    times["generator_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    tree, iuvs = build_trees(spec, work)
    times["studio_s"] = time.perf_counter() - mark
    roots = {"original": str(work / "arms/original")}
    if "augmented" in args.arms:
        mark = time.perf_counter()
        dst = str(work / "arms/augmented/market1501")
        bank = pose_bank(args, spec, work, dst)
        run_augment(args, tree, iuvs, bank, checkpoint, dst)
        checked = check_generation_sources(dst)
        print(f"[reid_value] {checked} generated images: no test person is a source", flush=True)
        times["augment_s"] = time.perf_counter() - mark
        roots["augmented"] = str(work / "arms/augmented")
    if args.oracle:
        mark = time.perf_counter()
        build_oracle(spec, tree, str(work / "arms/oracle/market1501"), args.per_identity)
        roots["oracle"] = str(work / "arms/oracle")
        times["oracle_s"] = time.perf_counter() - mark
    return roots


def summarise(runs: dict[str, list[dict]]) -> dict:
    """Mean, sample standard deviation, min and max of rank-1 and mAP per arm; the mAP gain."""
    out: dict = {}
    for arm, results in runs.items():
        out[arm] = {}
        for key in ("rank1", "mAP"):
            values = [r[key] for r in results]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            out[arm][key] = {
                "mean": round(statistics.mean(values), 2), "std": round(spread, 2),
                "min": round(min(values), 2), "max": round(max(values), 2),
            }  # fmt: skip
    for arm in runs:
        if arm != "original" and "original" in out:
            gain = out[arm]["mAP"]["mean"] - out["original"]["mAP"]["mean"]
            out[arm]["mAP_gain_points"] = round(gain, 2)
    out["goal_met"] = out.get("augmented", {}).get("mAP_gain_points", 0.0) >= GOAL_MAP_POINTS
    return out


def table(runs: dict[str, list[dict]], summary: dict) -> str:
    rows = []
    for arm, results in runs.items():
        s = summary[arm]
        rows.append([arm, results[0]["train_images"], results[0]["iterations"],
                     f"{s['rank1']['mean']:.2f} ± {s['rank1']['std']:.2f}",
                     f"{s['mAP']['mean']:.2f} ± {s['mAP']['std']:.2f}",
                     f"{s.get('mAP_gain_points', 0.0):+.2f}",
                     round(statistics.mean(r["last_epoch_train_top1"] for r in results), 1),
                     round(statistics.mean(r["seconds"] for r in results), 1)])  # fmt: skip
    headers = [
        "arm",
        "train imgs",
        "iters",
        "rank-1 %",
        "mAP %",
        "mAP gain",
        "train top-1 %",
        "s/run",
    ]
    return format_table(headers, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--work", help="keep the trees here (default: a temporary folder)")
    p.add_argument("--quick", action="store_true", help="smoke: 12+8 persons, 2 seeds, 3 epochs")
    p.add_argument("--oracle", action="store_true", help="also the studio-rendered arm")
    p.add_argument("--train-ids", type=int, default=48)
    p.add_argument("--test-ids", type=int, default=32)
    p.add_argument("--poses", type=int, default=3)
    p.add_argument("--views", type=int, default=4, help="cameras (<= 6)")
    p.add_argument("--per-identity", type=int, default=8,
                   help="generated (and oracle) images per person that are made")  # fmt: skip
    p.add_argument("--bank-ids", type=int, default=16, help="pose-bank persons (4 poses × 2)")
    p.add_argument("--pose-bank", choices=POSE_BANKS, default="others",
                   help="others: studio persons outside the benchmark; train: the training "
                        "set's own poses (every training person's IUVs)")  # fmt: skip
    p.add_argument("--added-per-identity", type=int, default=None,
                   help="train on only the first K added (generated / oracle) images per "
                        "person (default: all --per-identity)")  # fmt: skip
    p.add_argument("--added-weight", type=float, default=1.0,
                   help="softmax weight of an added image (1: as a real one)")  # fmt: skip
    p.add_argument(
        "--train-only",
        action="store_true",
        help="reuse the arms' trees already in --work (no studio, no reid-augment)",
    )
    p.add_argument("--generator", default=None,
                   help="ablation (default; demo with --quick): seed 0 of benchmarks/ablation.py, "
                        "trained if missing; demo: make demo's run, trained if missing; else a "
                        "run folder")  # fmt: skip
    p.add_argument("--generator-studio", default=None,
                   help="with a run folder as --generator: the studio folder it was trained on "
                        "(its seed must differ from --studio-seed)")  # fmt: skip
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--studio-seed", type=int, default=18)
    p.add_argument(
        "--arms",
        nargs="+",
        default=["original", "augmented", "oracle"],
        help="arms to train (oracle only with --oracle)",
    )
    p.add_argument("--triplet-weight", type=float, default=0.0,
                   help="weight of the batch-hard triplet loss (0: softmax only)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch threads of the re-id training")
    args = p.parse_args(argv)
    if args.train_only and not args.work:
        p.error("--train-only: needs --work, the folder of an earlier run's trees")
    if args.generator is None:
        args.generator = "demo" if args.quick else "ablation"
    named = args.generator not in ("ablation", "demo")
    if named != bool(args.generator_studio):
        p.error("--generator-studio: needed with a run folder as --generator, and only then")
    if args.quick:
        args.train_ids, args.test_ids, args.per_identity, args.bank_ids = 12, 8, 4, 4
        args.epochs, args.seeds = 3, [0, 1]
    return args


def write(result: dict, out: str | None) -> None:
    """The results so far as JSON (``complete`` false until the last run is in)."""
    if out:
        storage.write_bytes(out, json.dumps(result, indent=1).encode())


def run(args: argparse.Namespace, work: Path) -> dict:
    """Every step; the results dict, rewritten to ``--out`` after each training run."""
    spec = StudioMarketSpec(args.train_ids, args.test_ids, args.poses, args.views,
                            args.studio_seed)  # fmt: skip
    recipe = TrainRecipe(epochs=args.epochs, threads=args.threads,
                         triplet_weight=args.triplet_weight, added_weight=args.added_weight,
                         added_per_identity=args.added_per_identity)  # fmt: skip
    times, started = {}, time.perf_counter()
    torchreid = import_torchreid()
    result = {
        "command": " ".join(["benchmarks/reid_value.py", *sys.argv[1:]]), "complete": False,
        "reid_library": f"torchreid {torchreid.__version__} (osnet_x0_25, scratch, CPU)",
        "spec": spec.__dict__, "recipe": recipe.__dict__, "per_identity": args.per_identity,
        "bank_ids": args.bank_ids, "pose_bank": args.pose_bank, "seeds": args.seeds,
        "generator": args.generator,
        "times_s": times,
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "load_avg_1m_start": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    roots = existing_arms(work) if args.train_only else prepare_arms(args, spec, work, times)
    result["chance"] = chance_level(roots["original"])
    result["colour_histogram"] = histogram_reference(roots["original"])
    runs: dict[str, list[dict]] = {arm: [] for arm in roots if arm in args.arms}
    mark = time.perf_counter()
    order = [(seed, arm) for group in ARM_GROUPS for seed in args.seeds for arm in group
             if arm in roots and arm in args.arms]  # fmt: skip
    for seed, arm in tqdm(order, desc="re-id runs", unit="run"):
        runs[arm].append({"seed": seed, **run_arm(roots[arm], recipe, seed, f"{arm} s{seed}")})
        result.update(runs=runs, wall_s=round(time.perf_counter() - started, 1))
        write(result, args.out)
    times["train_eval_s"] = time.perf_counter() - mark
    result.update(summary=summarise(runs), complete=True,
                  times_s={k: round(v, 1) for k, v in times.items()},
                  wall_s=round(time.perf_counter() - started, 1),
                  load_avg_1m_end=round(os.getloadavg()[0], 2))  # fmt: skip
    return result


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=".*(Cython|deprecated).*")
    if args.work:
        result = run(args, Path(args.work).resolve())
    else:
        with tempfile.TemporaryDirectory(prefix="reid_value-") as tmp:
            result = run(args, Path(tmp))
    write(result, args.out)
    print(table(result["runs"], result["summary"]))
    chance = result["chance"]
    hist = result["colour_histogram"]
    print(
        f"chance (random distances): rank-1 {chance['rank1']:.2f} %, mAP {chance['mAP']:.2f} %; "
        f"colour histogram (no training): rank-1 {hist['rank1']:.2f} %, mAP {hist['mAP']:.2f} %"
    )
    gain = result["summary"].get("augmented", {}).get("mAP_gain_points")
    if gain is not None:
        print(f"mAP gain of augmented over original: {gain:+.2f} points (goal >= "
              f"{GOAL_MAP_POINTS}); wall {result['wall_s']:.0f} s")  # fmt: skip
    if args.out:
        print(f"results: {args.out}")


if __name__ == "__main__":
    main()

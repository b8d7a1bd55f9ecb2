"""Flow ``dpt-main``: the whole DAG on a studio data set, on local storage, ephemeral API.

    python -m flows.main --out data/demo [--identities 8 --poses 4 --views 4 ...]

studio data -> preprocess (shard, extract: studio ground truth unless ``--weights`` names
DensePose R-CNN weights, textures) -> make-pairs -> train (``configs/train/demo.yaml``) ->
render-batch (every branch: predictive, warped, blended, completed texture) -> evaluate; prints
where the report is. Every stage resumes: a second run redoes nothing that is committed.
"""

from __future__ import annotations

import os

# Defaults for running without `make` (explicit environment values win); set before Prefect loads.
for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "dpt_core",
}.items():
    os.environ.setdefault(_name, _value)

import argparse  # noqa: E402
import sys  # noqa: E402

from prefect import flow, get_run_logger  # noqa: E402

from dpt_core import storage  # noqa: E402
from dpt_core.train import load_config  # noqa: E402
from flows.evaluate import evaluate_flow  # noqa: E402
from flows.make_pairs import make_pairs_flow  # noqa: E402
from flows.params import PositiveInt, StorageUrl  # noqa: E402
from flows.preprocess import preprocess_flow  # noqa: E402
from flows.render_batch import render_batch_flow  # noqa: E402
from flows.train import train_flow  # noqa: E402
from tasks.studio import generate_studio_task  # noqa: E402

FLOW_NAME = "dpt-main"
DATASET = "studio"
RENDER_BRANCHES = ("pred", "warp", "tex")  # blended is always rendered


@flow(name=FLOW_NAME)
def dpt_main(
    out: StorageUrl = "data/demo",
    identities: PositiveInt = 8,
    poses: PositiveInt = 4,
    views: PositiveInt = 4,
    config: StorageUrl = "configs/train/demo.yaml",
    weights: StorageUrl | None = None,
    shard_size: PositiveInt = 32,
    renders: PositiveInt = 16,
    train_overrides: list[str] | None = None,
) -> dict:
    """Run the DAG under ``out``; returns each stage's result and ``report`` (its URL)."""
    logger = get_run_logger()
    scale = load_config(config, [f"root={out}"], check=False).model_scale
    src, iuv = storage.join(out, "sources", DATASET), "detectron2" if weights else "studio"
    done: dict = {"studio": generate_studio_task(src, identities, poses, views, scale.image_size)}
    done["preprocess"] = preprocess_flow(
        src, out, DATASET, "studio", iuv, weights, n=scale.atlas_n, max_count=shard_size
    )
    done["pairs"] = make_pairs_flow(out, DATASET)
    overrides = [f"iuv_source={iuv}", *(train_overrides or [])]
    done["train"] = train_flow(config, out, DATASET, overrides=overrides)
    done["render"] = render_batch_flow(
        out, done["train"]["run_url"], "test-pairs", DATASET, iuv, "test", renders,
        branches=list(RENDER_BRANCHES),
    )  # fmt: skip
    done["evaluate"] = evaluate_flow(done["render"]["url"])
    done["report"] = done["evaluate"]["report_url"]
    done["sheet"] = done["evaluate"].get("sheet_url")
    logger.info("dpt-main: report at %s; contact sheet at %s", done["report"], done["sheet"])
    return done


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flows.main", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", default="data/demo", help="root folder or URL of every output")
    parser.add_argument("--identities", type=int, default=8, help="studio persons")
    parser.add_argument("--poses", type=int, default=4, help="poses per person")
    parser.add_argument("--views", type=int, default=4, help="camera views per pose")
    parser.add_argument("--config", default="configs/train/demo.yaml", help="training config")
    parser.add_argument("--weights", default=None, help="DensePose R-CNN weights (.pth/.pkl)")
    parser.add_argument("--shard-size", type=int, default=32, help="samples per shard")
    parser.add_argument("--renders", type=int, default=16, help="test pairs to render")
    parser.add_argument(
        "--train-override", action="append", default=[], metavar="KEY=VALUE",
        help="training config override, e.g. stages.blending.steps=20 (repeatable)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command line: run ``dpt-main`` and print where the report is."""
    args = parse_args(argv)
    result = dpt_main(
        args.out, args.identities, args.poses, args.views, args.config, args.weights,
        args.shard_size, args.renders, args.train_override,
    )  # fmt: skip
    print(f"Report: {result['report']}")
    if result.get("sheet"):
        print(f"Contact sheet (source | target | predictive | warped | blended | atlas): "
              f"{result['sheet']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

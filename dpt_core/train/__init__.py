"""Training of Dense Pose Transfer: config, data streamed from shards, stages, checkpoints, DDP.

Entry points::

    from dpt_core.train import load_config, train, load_generator
    result = train(load_config("configs/train/demo.yaml", ["run=my-run"]))
    generator, scale = load_generator(result.checkpoint, "cpu")

Modules: ``config`` (typed, layered config), ``index`` / ``order`` / ``data`` / ``samples``
(what to read, in which order, decoded how), ``steps`` (one step per stage), ``stage``
(the loop), ``checkpoint``, ``metrics_log``, ``distributed`` (torchrun / DDP), ``launch``
(local CPU ranks without torchrun), ``cli``.
"""

from dpt_core.train.checkpoint import load_checkpoint, load_generator
from dpt_core.train.config import TrainConfig, check_files, load_config, save_config
from dpt_core.train.launch import run_local
from dpt_core.train.stage import TrainResult, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "check_files",
    "load_checkpoint",
    "load_config",
    "load_generator",
    "run_local",
    "save_config",
    "train",
]

"""Training metrics: interval means of the step losses, appended to ``runs/RUN/metrics.parquet``.

``Meter`` sums each step's losses on the device (no sync per step) and turns them into one
row every ``log_every`` steps; its sums travel in checkpoints, so a resumed run logs the same
rows as an uninterrupted one. ``MetricsLog`` keeps the rows and rewrites the Parquet file
atomically on ``flush`` (at checkpoints and at the end); on resume the rows after the
checkpoint's step (written by the interrupted run) are dropped.
"""

from __future__ import annotations

import io
import logging
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from dpt_core import storage

logger = logging.getLogger(__name__)


class Meter:
    """Running sums of losses (device tensors), data-wait and step times since the last row."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0
        self.data_seconds = 0.0
        self.started = time.perf_counter()

    def add(self, losses: dict[str, torch.Tensor], data_seconds: float) -> None:
        for name, value in losses.items():
            value = value.detach().double()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
        self.steps += 1
        self.data_seconds += data_seconds

    def row(self, samples_per_step: int) -> dict[str, float]:
        """Means since the last row (losses, ``s_per_step``, ``data_s_per_step``,
        ``samples_per_s``); then starts a new interval."""
        steps = max(self.steps, 1)
        seconds = time.perf_counter() - self.started
        row = {name: float(total) / steps for name, total in sorted(self.sums.items())}
        row |= {
            "s_per_step": seconds / steps,
            "data_s_per_step": self.data_seconds / steps,
            "samples_per_s": samples_per_step * steps / max(seconds, 1e-9),
        }
        self.reset()
        return row

    def state_dict(self) -> dict:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "steps": self.steps}

    def load_state_dict(self, state: dict, device: torch.device) -> None:
        self.reset()
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.steps = int(state["steps"])


class MetricsLog:
    """Rows of ``metrics.parquet``; keeps the existing rows with ``step <= keep_until``."""

    def __init__(self, url: str, keep_until: int = 0) -> None:
        self.url, self.rows = url, []
        self.kept: pa.Table | None = None
        if keep_until > 0 and storage.exists(url):
            table = pq.read_table(io.BytesIO(storage.read_bytes(url)))
            mask = pc.less_equal(table.column("step"), keep_until)
            self.kept = table.filter(mask)

    def add(self, row: dict) -> None:
        self.rows.append(row)

    def table(self) -> pa.Table:
        """Kept and new rows; columns are the union (missing values null)."""
        names = list(dict.fromkeys(k for row in self.rows for k in row))
        new = pa.table({n: [row.get(n) for row in self.rows] for n in names}) if self.rows else None
        tables = [t for t in (self.kept, new) if t is not None]
        if not tables:
            return pa.table({"step": pa.array([], pa.int64())})
        return pa.concat_tables(tables, promote_options="permissive")

    def flush(self) -> None:
        buffer = io.BytesIO()
        pq.write_table(self.table(), buffer, compression="zstd")
        storage.write_bytes(self.url, buffer.getvalue())


def read_metrics(run_url: str) -> pa.Table:
    """``RUN/metrics.parquet`` as a table (FileNotFoundError naming it when missing)."""
    return pq.read_table(io.BytesIO(storage.read_bytes(storage.join(run_url, "metrics.parquet"))))

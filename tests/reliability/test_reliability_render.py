"""Bad-input suite, train and render: damaged checkpoint files, and render requests naming
unknown keys or pointing at corrupt, empty or mis-sized target IUVs."""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from reliability_figures import FIGURES
from reliability_iuv import IuvCase, iuv_cases
from reliability_kill import NAME, RENDER_RUN
from reliability_oracle import Expect, account, batch, logged_by
from test_reliability_images import FAST, FULL, SETTINGS

from dpt_core import storage
from dpt_core.data import shards

EXAMPLES = [FAST, pytest.param(FULL, marks=pytest.mark.slow)]
BANK, BANK_SOURCE = "bank", "fuzz"
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
_TAGS = itertools.count()


def _checkpoint_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": 1, "step": 3, "models": {"generator": {"w": torch.ones(4)}}}, buffer)
    return buffer.getvalue()


GOOD_CHECKPOINT = _checkpoint_bytes()


@st.composite
def damaged_checkpoints(draw) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["garbage", "truncated", "bitflip", "not_a_dict", "empty"]))
    if kind == "garbage":
        return kind, draw(st.binary(min_size=1, max_size=400))
    if kind == "truncated":
        return kind, GOOD_CHECKPOINT[: draw(st.integers(1, len(GOOD_CHECKPOINT) - 1))]
    if kind == "bitflip":
        data = bytearray(GOOD_CHECKPOINT)
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        return kind, bytes(data)
    if kind == "not_a_dict":
        buffer = io.BytesIO()
        value = draw(st.sampled_from([[1, 2], torch.zeros(3), "text", 7, {"format": 2}]))
        torch.save(value, buffer)
        return kind, buffer.getvalue()
    return kind, b""


@pytest.mark.parametrize("data", [b"\x87", b"\x80\x02Q."], ids=["garbage", "persid"])
def test_damaged_checkpoint_bytes_are_a_clear_error(tmp_path: Path, data: bytes) -> None:
    from dpt_core.train.checkpoint import load_checkpoint

    url = tmp_path / "step-000003.pt"
    url.write_bytes(data)
    with pytest.raises(ValueError, match=r"step-000003\.pt"):
        load_checkpoint(str(url))


@pytest.mark.parametrize("examples", [60, pytest.param(300, marks=pytest.mark.slow)],
                         ids=["fast", "full"])  # fmt: skip
def test_damaged_checkpoints_give_one_clear_error(tmp_path: Path, examples: int) -> None:
    from dpt_core.train.checkpoint import load_checkpoint

    url = tmp_path / "runs" / "r" / "checkpoints" / "step-000003.pt"
    url.parent.mkdir(parents=True)

    @settings(max_examples=examples, phases=NO_SHRINK, **SETTINGS)
    @given(damaged_checkpoints())
    def check(case: tuple[str, bytes]) -> None:
        kind, data = case
        url.write_bytes(data)
        FIGURES.add("bad_inputs", "inputs_tried")
        FIGURES.add("bad_inputs", "inputs_checkpoint")
        try:
            payload = load_checkpoint(str(url))
        except ValueError as exc:
            assert "step-000003.pt" in str(exc)
            FIGURES.add("bad_inputs", "clear_errors")
            return
        assert kind == "bitflip" and payload["step"] == 3  # a flip in slack space is harmless
        FIGURES.add("bad_inputs", "processed")

    check()


@pytest.mark.parametrize("payload", [{}, {"scale": "tiny"}], ids=["no_scale", "no_models"])
def test_checkpoint_without_models_or_scale_is_a_clear_error(tmp_path: Path, payload) -> None:
    from dpt_core.models import get_scale
    from dpt_core.train.checkpoint import load_generator

    if payload:
        payload = {"scale": get_scale("tiny").model_dump(mode="json")}
    url = tmp_path / "step-000001.pt"
    torch.save({"format": 1, "step": 1, **payload}, url)
    with pytest.raises(ValueError, match=r"step-000001\.pt"):
        load_generator(str(url))


@pytest.fixture(scope="module")
def render_root(reference: SimpleNamespace, tmp_path_factory) -> str:
    """The reference inputs plus a pose bank whose IUV shard is written as generated."""
    root = tmp_path_factory.mktemp("render-fuzz")
    for rel in ("datasets", f"densepose/{NAME}", "pairs", f"runs/{RENDER_RUN}"):
        shutil.copytree(Path(reference.root) / rel, root / rel)
    return str(root)


def _write_bank(root: str, cases: list[IuvCase], tag: str) -> None:
    url = storage.join(root, "densepose", f"{BANK}{tag}", BANK_SOURCE, f"{BANK}{tag}-00000.tar")
    present = [(f"t{i:02d}", c.data) for i, c in enumerate(cases) if c.data is not None]
    shards.write_shard(url, [{"__key__": k, "iuv.png": d} for k, d in present])
    schema = pa.schema([("key", pa.string()), ("image_key", pa.string())])
    rows = [{"key": k, "image_key": k} for k, _ in present]
    shards.write_manifest(shards.shard_manifest_url(url), rows, schema)


def _source_keys(root: str) -> list[str]:
    from dpt_core.data.manifest import read_dataset_manifest

    return sorted(read_dataset_manifest(root, NAME, ["key"]).column("key").to_pylist())[:4]


@pytest.mark.parametrize("examples", [10, pytest.param(60, marks=pytest.mark.slow)],
                         ids=["fast", "full"])  # fmt: skip
def test_render_requests_with_bad_targets(render_root: str, examples: int) -> None:
    from dpt_core.render import RenderJob, output_key, render_requests

    sources = [*_source_keys(render_root), "no_such_source"]

    @settings(max_examples=examples, **SETTINGS)
    @given(st.lists(iuv_cases((48, 48)), min_size=1, max_size=5), st.data())
    def check(cases: list[IuvCase], data) -> None:
        tag = f"{next(_TAGS):04d}"  # fresh names: the root is shared by every example
        _write_bank(render_root, cases, tag)
        targets = [f"t{i:02d}" for i in range(len(cases))] + ["t99"]
        requests = data.draw(st.lists(st.tuples(st.sampled_from(sources),
                                                st.sampled_from(targets)), min_size=1,
                                      max_size=6, unique=True))  # fmt: skip
        job = RenderJob(render_root, f"{render_root}/runs/{RENDER_RUN}", f"fuzz{tag}",
                        pose_bank=f"{BANK}{tag}", pose_bank_source=BANK_SOURCE,
                        shard_size=3)  # fmt: skip
        with batch("render"):
            render_requests(job, requests)
        expected = {}
        for source, target in requests:
            case = cases[int(target[1:])] if target != "t99" else None
            # Target IUVs are fitted to the model's size: another size is fine for render.
            usable = case is not None and (case.expect == "good" or case.kind == "wrong_size")
            good = source != "no_such_source" and usable
            reasons = frozenset({"missing source", "missing target", "bad iuv"})
            expected[output_key(source, target)] = (
                Expect("good", kind="render_request") if good
                else Expect("bad", reasons, f"render_{case.kind if case else 'missing'}")
            )  # fmt: skip
        stored = {}
        for url in shards.shard_urls(job.url):
            table = shards.read_manifest(shards.shard_manifest_url(url))
            stored |= dict.fromkeys(table.column("key").to_pylist(), True)
        logged = logged_by(render_root, "render", f"fuzz{tag}", "key")
        problems = account("render", expected, stored, logged)
        assert not problems, "\n".join(problems)

    check()

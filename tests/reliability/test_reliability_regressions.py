"""One small test per bug the reliability suites found and fixed (the suites find them too;
these name them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_images import png_with_header
from reliability_oracle import batch
from reliability_s3proxy import FaultPlan, fault_proxy
from s3_server import TEST_KEY, TEST_SECRET, moto_s3
from typer.testing import CliRunner

from dpt_core import storage
from dpt_core.data import shards
from dpt_core.data.layouts.deepfashion import _NAME_RE as DEEPFASHION_NAME
from dpt_core.data.layouts.deepfashion import read_partition
from dpt_core.data.layouts.market1501 import parse_market_name
from dpt_core.data.layouts.patn import parse_patn_name, read_annotations, read_pairs_csv
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.precomputed import decode_inds_png
from dpt_core.densepose.stage import extract_dataset, output_shard_url


def test_names_with_non_ascii_digits_do_not_parse() -> None:
    """``\\d`` matched e.g. Arabic-Indic digits: person "٠٠٠١" became a Market-1501 id."""
    assert parse_market_name("0001_c1s1_000151_01.jpg")["person"] == "0001"
    assert parse_market_name("٠٠٠١_c1s1_000151_01.jpg") is None
    assert parse_market_name("0001_c١s1_000151_01.jpg") is None
    assert parse_market_name("0001_c1s1_000151_01\n.jpg") is None
    assert parse_patn_name("fashionWOMENDressesid٠٠٠٠٠٠٠٢02_1front.jpg") is None
    assert DEEPFASHION_NAME.match("img/MEN/Denim/id_٠٠٠٠٠٠٨٠/01_4_full.jpg") is None


def test_partition_file_lines_are_rejected_one_by_one(tmp_path: Path) -> None:
    """A bad line used to abort the whole data set; now it is a ``bad_partition_line``."""
    text = "\ufeff2\nimage_name item_id evaluation_status\nimg/a.jpg id_1 train\nbroken\n"
    (tmp_path / "list_eval_partition.txt").write_bytes(text.encode() + b"\xff bad bytes\n")
    statuses, rejected = read_partition(str(tmp_path))
    assert statuses == {"img/a.jpg": "train"}
    assert [(r.source.rsplit("/", 1)[1], r.reason) for r in rejected] == [
        ("list_eval_partition.txt:4", "bad_partition_line"),
        ("list_eval_partition.txt:5", "bad_partition_line"),
    ]


def test_patn_csv_rows_are_rejected_one_by_one(tmp_path: Path) -> None:
    """A non-numeric keypoint raised a bare ValueError/TypeError; a row without ``to`` an
    AttributeError. Now each is one rejection naming ``file:line``."""
    ann = tmp_path / "fasion-resize-annotation-train.csv"
    ann.write_text('name:keypoints_y:keypoints_x\na.jpg: [1, 2]: [3, 4]\nb.jpg: ["x"]: [1]\n'
                   "c.jpg: 5: [1]\nd.jpg: [1e999]: [1]\n")  # fmt: skip
    keypoints, rejected = read_annotations(str(ann))
    assert keypoints == {"a.jpg": ([1, 2], [3, 4])}
    assert [r.source.rsplit(":", 1)[1] for r in rejected] == ["3", "4", "5"]
    pairs = tmp_path / "fasion-resize-pairs-train.csv"
    pairs.write_text("from,to\na.jpg,b.jpg\nlonely.jpg\n,\n")
    good, bad = read_pairs_csv(str(pairs))
    assert good == [("a.jpg", "b.jpg")]
    assert [(r.source.rsplit(":", 1)[1], r.reason) for r in bad] == [
        ("3", "bad_pairs_row"),
        ("4", "bad_pairs_row"),
    ]


def test_inds_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(ValueError, match=r"40000x40000 INDS PNG exceeds"):
        decode_inds_png(png_with_header(40000, 40000, 0), "x_INDS.png")


def _studio_shards(root: Path, n: int) -> None:
    from reliability_iuv import iuv_array

    from dpt_core import iuv
    from dpt_core.data.shards import write_shard

    for i in range(n):
        sample = {"__key__": f"k{i}", "iuv.png": iuv.encode_iuv_png(iuv_array(8, 8, i))}
        write_shard(str(root / f"datasets/d/shards/d-{i:05d}.tar"), [sample])


def test_extract_dataset_goes_on_past_a_bad_shard(tmp_path: Path) -> None:
    """A corrupt dataset shard used to stop every shard after it."""
    _studio_shards(tmp_path, 3)
    bad = tmp_path / "datasets/d/shards/d-00001.tar"
    bad.write_bytes(bad.read_bytes()[:700])
    with (
        pytest.raises(
            RuntimeError, match=r"1 shard\(s\) failed.*d-00001\.tar.*not a readable plain tar"
        ),
        batch("extract", clear=(RuntimeError,)),
    ):
        extract_dataset(str(tmp_path), "d", ExtractOptions(source="studio"))
    for index, done in ((0, True), (1, False), (2, True)):
        url = output_shard_url(str(tmp_path), "d", "studio", index)
        assert storage.exists(url) is done and (not done or list(shards.iter_shard(url)))


def test_extract_cli_reports_a_storage_failure_in_one_line(tmp_path: Path) -> None:
    """An S3 write that fails after every retry ends ``dpt extract`` with one error line."""
    import botocore.retries.standard

    from dpt_core.cli import app

    original = botocore.retries.standard.ExponentialBackoff.delay_amount
    botocore.retries.standard.ExponentialBackoff.delay_amount = lambda s, c: original(s, c) / 50
    try:
        with moto_s3() as s3, fault_proxy(s3.endpoint_url) as proxy:
            storage.configure_s3(**s3.storage_options)
            _studio_shards_s3(s3.bucket_url)
            proxy.plan = FaultPlan(rate=1.0, kinds=("internal",), match="PUT|POST")
            storage.configure_s3(endpoint_url=proxy.url, key=TEST_KEY, secret=TEST_SECRET)
            result = CliRunner().invoke(app, ["extract", f"{s3.bucket_url}/datasets/d",
                                              "--source", "studio"])  # fmt: skip
    finally:
        botocore.retries.standard.ExponentialBackoff.delay_amount = original
        storage.configure_s3()
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: 1 shard(s) failed"), result.output
    assert "d-00000.tar" in lines[0] and "failed after retries" in lines[0]


def _studio_shards_s3(bucket_url: str) -> None:
    from reliability_iuv import iuv_array

    from dpt_core import iuv

    sample = {"__key__": "k0", "iuv.png": iuv.encode_iuv_png(iuv_array(8, 8, 0))}
    shards.write_shard(f"{bucket_url}/datasets/d/shards/d-00000.tar", [sample])

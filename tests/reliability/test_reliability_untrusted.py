"""Untrusted files: hostile tar members, compressed and oversized shards, pickles that run
code, decompression bombs, and every ``torch.load`` in the code base kept at
``weights_only=True``."""

from __future__ import annotations

import ast
import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import ImageFile
from reliability_figures import FIGURES
from reliability_images import encode, pixels, png_with_header

from dpt_core import iuv
from dpt_core.data import shards
from dpt_core.densepose import extractors
from dpt_core.densepose.options import ExtractOptions
from dpt_core.densepose.stage import extract_shard, output_shard_url

REPO = Path(__file__).resolve().parents[2]
CODE_DIRS = ("dpt_core", "tasks", "flows")


def _member(name: str, kind: bytes, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, linkname
    return info


HOSTILE = {
    "absolute": _member("/etc/cron.d/evil.png", tarfile.REGTYPE, 4),
    "dotdot": _member("../../escape.png", tarfile.REGTYPE, 4),
    "dotdot_inside": _member("a/../../b.png", tarfile.REGTYPE, 4),
    "symlink": _member("s000.png", tarfile.SYMTYPE, linkname="/etc/passwd"),
    "hardlink": _member("s000.png", tarfile.LNKTYPE, linkname="/etc/shadow"),
    "char_device": _member("s000.png", tarfile.CHRTYPE),
    "block_device": _member("s000.png", tarfile.BLKTYPE),
    "fifo": _member("s000.png", tarfile.FIFOTYPE),
}


def _hostile_shard(root: Path, member: tarfile.TarInfo) -> str:
    """A dataset shard holding one good sample, then ``member``."""
    url = root / "datasets" / "evil" / "shards" / "evil-00000.tar"
    url.parent.mkdir(parents=True)
    with tarfile.open(url, "w", format=tarfile.PAX_FORMAT) as tar:
        good = encode(pixels(16, 16, 0), "PNG")
        tar.addfile(_member("a000.png", tarfile.REGTYPE, len(good)), io.BytesIO(good))
        tar.addfile(member, io.BytesIO(b"evil") if member.isfile() else None)
    return str(url)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_members_stop_the_shard_before_anything_is_written(tmp_path, kind) -> None:
    url = _hostile_shard(tmp_path, HOSTILE[kind])
    with pytest.raises(ValueError, match=r"evil-00000\.tar: (unsafe|link|device)"):
        list(shards.iter_shard(url))
    with pytest.raises(ValueError, match=r"evil-00000\.tar"):
        extract_shard(str(tmp_path), "evil", 0, ExtractOptions(source="studio"))
    out = Path(output_shard_url(str(tmp_path), "evil", "studio", 0))
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "escape.png").exists()
    FIGURES.add("untrusted", "hostile_tar_members_refused")


def test_compressed_shard_is_refused_unread(tmp_path: Path) -> None:
    """A gzip tar of 64 MiB of zeros (~64 KiB on disk) is refused, not inflated."""
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        zeros = b"\0" * (64 << 20)
        tar.addfile(_member("a.png", tarfile.REGTYPE, len(zeros)), io.BytesIO(zeros))
    url = tmp_path / "bomb-00000.tar"
    url.write_bytes(gzip.compress(payload.getvalue(), compresslevel=9))
    assert url.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match=r"bomb-00000\.tar: not a readable plain tar"):
        list(shards.iter_shard(str(url)))
    FIGURES.add("untrusted", "decompression_bombs_refused")


def test_member_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    header = _member("a.png", tarfile.REGTYPE, shards.MAX_MEMBER_BYTES + 1)
    url = tmp_path / "big-00000.tar"
    url.write_bytes(header.tobuf(tarfile.PAX_FORMAT) + b"\0" * 1024)  # the data is not there
    with pytest.raises(ValueError, match=r"big-00000\.tar: member 'a.png' of \d+ bytes"):
        list(shards.iter_shard(str(url)))
    FIGURES.add("untrusted", "oversized_members_refused")


@pytest.mark.parametrize("cut", [0, 100, 511, 513, 1500])
def test_truncated_or_garbage_shard_is_a_clear_error(tmp_path: Path, cut: int) -> None:
    url = tmp_path / "cut-00000.tar"
    shards.write_shard(str(url), [{"__key__": "a", "png": b"x" * 1000, "json": b"{}"}])
    url.write_bytes(url.read_bytes()[:cut] if cut else b"garbage, not a tar at all" * 40)
    with pytest.raises(ValueError, match=r"cut-00000\.tar"):
        list(shards.iter_shard(str(url)))


def _spy_imdecode(monkeypatch) -> list:
    calls: list = []
    real = iuv.cv2.imdecode
    monkeypatch.setattr(iuv.cv2, "imdecode", lambda *a: calls.append(1) or real(*a))
    return calls


def _spy_pil_load(monkeypatch) -> list:
    calls: list = []
    real = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: calls.append(1) or real(im))
    return calls


def test_iuv_bomb_is_refused_from_its_header(monkeypatch) -> None:
    calls = _spy_imdecode(monkeypatch)
    with pytest.raises(ValueError, match=r"30000x30000 IUV PNG exceeds"):
        iuv.read_iuv(png_with_header(30000, 30000, 2))
    assert calls == []
    sound = np.zeros((4, 4, 3), np.uint8)
    assert (iuv.read_iuv(iuv.encode_iuv_png(sound)) == sound).all() and calls == [1]
    FIGURES.add("untrusted", "decompression_bombs_refused")


@pytest.mark.parametrize("data", [png_with_header(9000, 9000, 2), png_with_header(60000, 60000, 0)])
def test_image_bomb_is_refused_before_decoding(monkeypatch, data: bytes) -> None:
    calls = _spy_pil_load(monkeypatch)
    with pytest.raises(ValueError, match="refused unread"):
        extractors.decode_image_rgb(data)
    assert calls == []
    sound = iuv.encode_iuv_png(np.zeros((4, 4, 3), np.uint8))
    assert extractors.decode_image_rgb(sound).shape == (4, 4, 3)
    assert calls  # the spy does see a sound image being decoded
    FIGURES.add("untrusted", "decompression_bombs_refused")


class _RunsCode:
    """Unpickling this calls ``Path.touch`` on a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _evil_torch_file(path: Path, marker: Path, wrap: dict | None = None) -> str:
    torch.save({"format": 1, "step": 1, **(wrap or {}), "models": _RunsCode(marker)}, path)
    return str(path)


def test_training_checkpoints_never_run_code(tmp_path: Path) -> None:
    from dpt_core.train.checkpoint import load_checkpoint, load_generator

    marker = tmp_path / "pwned"
    (tmp_path / "runs" / "r").mkdir(parents=True)
    url = _evil_torch_file(tmp_path / "runs" / "r" / "step-000001.pt", marker)
    for load in (load_checkpoint, load_generator):
        with pytest.raises(ValueError, match=r"step-000001\.pt"):
            load(url)
    assert not marker.exists()
    FIGURES.add("untrusted", "code_running_pickles_refused", 2)


def test_densepose_weights_never_run_code(tmp_path: Path) -> None:
    from dpt_core.densepose.weights import read_checkpoint

    marker = tmp_path / "pwned"
    pth = _evil_torch_file(tmp_path / "w.pth", marker)
    with pytest.raises(ValueError, match=r"w\.pth is not a readable torch checkpoint"):
        read_checkpoint(pth)
    pkl = tmp_path / "w.pkl"
    pkl.write_bytes(pickle.dumps({"model": {"x": _RunsCode(marker)}}))
    with pytest.raises(ValueError, match=r"unpickling can run code.*allow_pickle=True"):
        read_checkpoint(str(pkl))
    with pytest.raises(ValueError, match=r"refusing to unpickle pathlib"):
        read_checkpoint(str(pkl), allow_pickle=True)
    assert not marker.exists()
    arrays = tmp_path / "ok.pkl"
    arrays.write_bytes(pickle.dumps({"model": {"x": np.arange(3.0)}}, protocol=2))
    state, _ = read_checkpoint(str(arrays), allow_pickle=True)
    assert np.array_equal(state["x"], np.arange(3.0))
    FIGURES.add("untrusted", "code_running_pickles_refused", 3)


def _calls(tree: ast.AST, names: set[str]):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            dotted = ast.unparse(func) if isinstance(func, ast.Attribute | ast.Name) else ""
            if dotted in names:
                yield node


def test_no_unsafe_deserialisation_anywhere_in_the_code() -> None:
    """Every torch.load passes weights_only=True; no pickle.load(s), yaml.load, allow_pickle."""
    loads = 0
    for folder in CODE_DIRS:
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for call in _calls(tree, {"torch.load"}):
                loads += 1
                flag = {k.arg: k.value for k in call.keywords}.get("weights_only")
                assert isinstance(flag, ast.Constant) and flag.value is True, (
                    f"{path}:{call.lineno}"
                )
            bad = {"pickle.load", "pickle.loads", "yaml.load", "yaml.unsafe_load", "np.load",
                   "numpy.load", "marshal.loads", "dill.load", "joblib.load"}  # fmt: skip
            found = [f"{path}:{c.lineno}" for c in _calls(tree, bad)]
            assert not found, f"unsafe deserialisation at {found}"
    assert loads >= 4  # checkpoints, DensePose .pth, VGG, metric networks


def test_credentials_in_source_urls_are_never_recorded() -> None:
    """A source URL with ``user:password@`` (ftp, sftp, http basic auth...) is read as given,
    but manifests, ``KEY.json`` members, stats and failures record it redacted."""
    import fsspec

    from dpt_core import storage
    from dpt_core.data.stage import shard_dataset

    src, root = "memory://alice:hunter2@host/photos", "memory://dpt-rel-creds/out"
    storage.write_bytes(f"{src}/p1/a.png", encode(pixels(16, 16, 1), "PNG"))
    storage.write_bytes(f"{src}/p1/bad.png", b"not an image")
    summary = shard_dataset("image-folder", src, root, "creds", person_from_folder=True)
    assert (summary.written, summary.rejected) == (1, 1)
    fs = fsspec.filesystem("memory")
    written = {p: fs.cat_file(p) for p in fs.find("/dpt-rel-creds")}
    assert len(written) >= 5
    leaks = [p for p, data in written.items() if b"hunter2" in data]
    samples = list(shards.iter_shard(f"{root}/datasets/creds/shards/creds-00000.tar"))
    assert b"memory://***@host/photos/p1/a.png" in samples[0]["json"]
    fs.rm("/dpt-rel-creds", recursive=True)
    fs.rm("/alice:hunter2@host", recursive=True)
    FIGURES.add("credentials", "objects_scanned", len(written))
    assert leaks == []


def test_artifact_links_hold_no_credentials(monkeypatch) -> None:
    from tasks import artifacts

    seen: list = []
    monkeypatch.setattr(artifacts, "create_link_artifact", lambda *a, **k: seen.append((a, k)))
    artifacts.publish_link("report", "https://alice:hunter2@reports.example/r.html", "report")
    assert seen and "hunter2" not in repr(seen)

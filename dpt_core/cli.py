"""The `dpt` command line: every stage of the DAG, runnable without a Prefect server.

Each stage's commands live beside its code (``dpt_core/<stage>/cli.py``); this module only
mounts them, in DAG order, so ``dpt --help`` reads like the pipeline.
"""

from __future__ import annotations

import typer

from dpt_core import __version__
from dpt_core.data import cli as data_cli
from dpt_core.densepose import cli as densepose_cli
from dpt_core.evaluate import cli as evaluate_cli
from dpt_core.reid import cli as reid_cli
from dpt_core.render import cli as render_cli
from dpt_core.studio import cli as studio_cli
from dpt_core.textures import cli as textures_cli
from dpt_core.train import cli as train_cli

DAG = """\
\b
Stages, in DAG order:
  studio       synthetic people with exact ground truth (the embedded default data set)
  shard        dataset layout -> WebDataset shards + Parquet manifests       (shard-dataset)
  extract      DensePose IUV per image: detectron2 | precomputed | studio    (extract-densepose)
  textures     partial UV texture atlases + visibility per image             (precompute-textures)
  pairs        same-person source/target pairs, split by person              (make-pairs)
  train        predictive / warping / blending networks, GAN; resumable      (train)
  render       pose transfer from a checkpoint, pairs or a pose bank         (render-batch)
  eval         metrics against ground truth + self-contained HTML report     (evaluate)
  reid-augment Market-1501 re-id set enlarged with rendered new poses        (augment-reid)

Storage: every URL may be a local path, file://, s3:// or memory://.
"""

app = typer.Typer(
    name="dpt",
    help=f"Dense Pose Transfer at scale.\n\n{DAG}",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dpt {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Dense Pose Transfer at scale."""


app.add_typer(studio_cli.app, name="studio", help="Synthetic people: generate data sets, previews.")
app.command("shard")(data_cli.shard)
app.command("extract")(densepose_cli.extract)
app.command("textures")(textures_cli.textures)
app.command("pairs")(data_cli.pairs)
app.command("train")(train_cli.train)
app.command("render")(render_cli.render)
app.command("eval")(evaluate_cli.eval)
app.command("reid-augment")(reid_cli.reid_augment)
app.command("ls")(data_cli.ls)
app.add_typer(densepose_cli.densepose_app, name="densepose")

if __name__ == "__main__":
    app()

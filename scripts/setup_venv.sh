#!/usr/bin/env bash
# Create .venv (if missing) and install everything the project needs, detectron2 included.
# Idempotent: a stamp file records the hash of the install inputs, so re-runs are instant.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
STAMP="$VENV/.dpt-installed"
inputs_hash=$(cat pyproject.toml scripts/setup_venv.sh | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$inputs_hash" ]; then
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install --quiet --upgrade pip
echo "[setup] torch + torchvision (from local disk where available)"
$PIP install --quiet torch==2.14.1 torchvision==0.29.1
echo "[setup] detectron2 dependencies"
$PIP install --quiet "setuptools<81" "fvcore>=0.1.5,<0.1.6" "iopath>=0.1.7,<0.1.10" pycocotools \
    matplotlib termcolor yacs tabulate cloudpickle tqdm tensorboard "omegaconf>=2.1,<2.4" \
    "hydra-core>=1.1" black packaging
if ! "$VENV/bin/python" -c "import detectron2" 2>/dev/null; then
    echo "[setup] detectron2 (sal-detectron2 0.7.2, pure-Python fallback ops)"
    SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    $PIP install --quiet --no-deps --only-binary :all: --python-version 3.10 \
        --target "$SITE" sal-detectron2==0.7.2
fi
echo "[setup] project + dev tools"
$PIP install --quiet -e ".[dev]"
echo "$inputs_hash" > "$STAMP"
echo "[setup] done: $VENV"

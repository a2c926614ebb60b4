#!/usr/bin/env bash
# Create bench/.venv-spandrel: a bench-only venv holding spandrel, for bench/spandrel_keys.py.
# spandrel-extra-arches (same authors, MIT code; it holds the architectures whose official
# licences are non-commercial, such as Restormer) provides the Restormer reference.
#
# spandrel (MIT; ComfyUI's model loader) requires torchvision, and the registry's torchvision
# wheels do not import beside pixelwise's CPU torch. spandrel itself only uses three
# torchvision names (InterpolationMode, rotate, normalize), in LaMa and RestoreFormer, which
# the key-layout script never builds; this venv therefore gets a stand-in torchvision package
# with those three names (calling them raises). torch, numpy and safetensors are reused from
# pixelwise's .venv through a .pth file, so both sides build models with the same torch.
#
# Idempotent: does nothing if the venv already imports spandrel at the wanted version.
# Usage: bash bench/setup_spandrel_venv.sh
#   (env: PYTHON, SPANDREL_VERSION=0.4.2, SPANDREL_EXTRA_VERSION=0.2.0)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="$here/.venv-spandrel"
python_bin="${PYTHON:-$root/.venv/bin/python}"
version="${SPANDREL_VERSION:-0.4.2}"
extra_version="${SPANDREL_EXTRA_VERSION:-0.2.0}"
check="import spandrel, spandrel_extra_arches, torch
print('spandrel', spandrel.__version__, 'extra', spandrel_extra_arches.__version__, 'torch', torch.__version__)
import sys; sys.exit((spandrel.__version__, spandrel_extra_arches.__version__) != ('$version', '$extra_version'))"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "$check" 2>/dev/null; then
    exit 0
fi
rm -rf -- "$venv"
base="$("$python_bin" -c 'import sys; print(sys.base_prefix)')/bin/python3"
"$base" -m venv "$venv"
site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
"$python_bin" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' >"$site/pixelwise-venv.pth"
"$venv/bin/python" -m pip install --disable-pip-version-check --no-deps \
    "spandrel==$version" "spandrel-extra-arches==$extra_version" "einops==0.8.2"

mkdir -p "$site/torchvision/transforms"
cat >"$site/torchvision/__init__.py" <<'PY'
"""Stand-in for torchvision in the spandrel bench venv: only the names spandrel imports."""
PY
touch "$site/torchvision/transforms/__init__.py"
cat >"$site/torchvision/transforms/functional.py" <<'PY'
"""The three names spandrel imports from torchvision; calling them is an error here."""
from enum import Enum


class InterpolationMode(Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def rotate(*args, **kwargs):
    raise NotImplementedError("torchvision stand-in: rotate is not available")


def normalize(*args, **kwargs):
    raise NotImplementedError("torchvision stand-in: normalize is not available")
PY
"$venv/bin/python" -c "$check"

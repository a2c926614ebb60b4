#!/usr/bin/env bash
# Create bench/.venv-careamics: a bench-only venv holding CAREamics, for n2v_vs_careamics.py.
#
# CAREamics pins its own torch and pulls torchvision, so it must never be a dependency of
# pixelwise; it lives in this separate, gitignored venv.
#
# Which torch: careamics 0.3.5 (latest) requires torch>=2.6,<2.14 and torchvision<=0.26.0.
# * torch 2.14.1 + torchvision 0.29.1 (on this disk) is refused by those pins: an unpinned
#   `pip install careamics` then backtracks to careamics 0.0.4.2, which fails to import
#   (needs pkg_resources). So careamics is pinned here, and the pair must satisfy its pins.
# * the local torch 2.13.0 CPU wheel cannot pair with torchvision 0.26.0 (which pins
#   torch==2.11.0), and PyPI's torchvision does not import beside that wheel.
# * so: torch==2.11.0 + torchvision==0.26.0 from PyPI (a CUDA 13 build that runs on CPU,
#   ~1.7 GB to download, a few GB in the venv).
#
# Idempotent: does nothing if the venv imports careamics, torch and torchvision at the wanted
# careamics version; a venv that does not is removed and rebuilt.
# Usage: bash bench/setup_careamics_venv.sh
#   env: PYTHON (default python3.11), CAREAMICS_VERSION (0.3.5),
#        TORCH_PAIR ("torch==2.11.0 torchvision==0.26.0")
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-careamics"
python_bin="${PYTHON:-python3.11}"
careamics_version="${CAREAMICS_VERSION:-0.3.5}"
read -r -a torch_pair <<<"${TORCH_PAIR:-torch==2.11.0 torchvision==0.26.0}"

check="import sys, careamics, torch, torchvision
from careamics import CAREamist
print(f'careamics {careamics.__version__}, torch {torch.__version__}, '
      f'torchvision {torchvision.__version__}, python {sys.version.split()[0]}')
sys.exit(careamics.__version__ != '$careamics_version')"

if [[ -x "$venv/bin/python" ]] && found="$("$venv/bin/python" -c "$check" 2>/dev/null)"; then
    echo "careamics venv already set up at $venv:"
    echo "$found"
    exit 0
fi
if [[ -e "$venv" ]]; then
    echo "removing incomplete or outdated $venv"
    rm -rf -- "$venv"
fi

if ! command -v "$python_bin" >/dev/null 2>&1; then
    echo "error: $python_bin not found; set PYTHON to a Python 3.11 interpreter" >&2
    exit 1
fi

echo "creating $venv with $("$python_bin" --version)"
"$python_bin" -m venv "$venv"
pip_install=("$venv/bin/python" -m pip install --disable-pip-version-check)
"${pip_install[@]}" --upgrade pip
# The torch pair first, then careamics with the pair pinned, so its resolver cannot swap it.
"${pip_install[@]}" "${torch_pair[@]}"
"${pip_install[@]}" "careamics==$careamics_version" "${torch_pair[@]}"

echo "installed into $venv:"
if ! "$venv/bin/python" -c "$check"; then
    echo "error: careamics does not import, or is not version $careamics_version" >&2
    exit 1
fi
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
    | grep -iE '^(careamics|torch|torchvision|lightning|pytorch-lightning|numpy) '

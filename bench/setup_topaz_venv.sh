#!/usr/bin/env bash
# Create bench/.venv-topaz: a bench-only venv holding Topaz-Denoise, for cryoem_vs_topaz.py.
#
# topaz-em is GPLv3 and pins its own torch, so it must never be a dependency of pixelwise
# (BSD-3); it lives in this separate, gitignored venv and is only ever run as a subprocess.
# Known to work (issue 8): topaz-em 0.3.20 installs beside torch==2.13.0 when torchvision is
# removed afterwards (its CLI entry imports torchvision; cryoem_vs_topaz.py reaches the
# denoise command through topaz.commands.denoise instead) and setuptools < 81 is present
# (topaz imports pkg_resources).
#
# Idempotent: does nothing if the venv already imports topaz.commands.denoise.
# Usage: bash bench/setup_topaz_venv.sh    env: PYTHON (default python3.11), TOPAZ_VERSION
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-topaz"
python_bin="${PYTHON:-python3.11}"
topaz_version="${TOPAZ_VERSION:-0.3.20}"
check="import topaz, torch, topaz.commands.denoise
print(f'topaz {topaz.__version__}, torch {torch.__version__}')"

if [[ -x "$venv/bin/python" ]] && found="$("$venv/bin/python" -c "$check" 2>/dev/null)"; then
    echo "topaz venv already set up at $venv: $found"
    exit 0
fi
rm -rf -- "$venv"
"$python_bin" -m venv "$venv"
pip_install=("$venv/bin/python" -m pip install --disable-pip-version-check)
"${pip_install[@]}" --upgrade pip "setuptools<81"
"${pip_install[@]}" "torch==2.13.0"
"${pip_install[@]}" "topaz-em==$topaz_version" "torch==2.13.0" "setuptools<81"
"$venv/bin/python" -m pip uninstall -y torchvision >/dev/null 2>&1 || true
if ! "$venv/bin/python" -c "$check"; then
    echo "error: topaz.commands.denoise does not import in $venv" >&2
    exit 1
fi

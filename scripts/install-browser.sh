#!/usr/bin/env bash
# Debian's Chromium for the end-to-end tests (Playwright drives it with executable_path;
# Playwright's own browser download cannot work on these machines).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
echo "==> installing Debian chromium for the browser tests"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null

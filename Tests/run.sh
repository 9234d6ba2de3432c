#!/usr/bin/env bash
# The whole test suite of Parley: `bash Tests/run.sh` from anywhere in the repository.
#
# On a fresh Debian 12 machine with Swift and python3 it installs what is missing (Debian
# packages, a Python venv with the interop peers at .build/venv), builds everything, runs
# `swift test`, then the interop tests in Tests/Interop against the built executables.
# Exits non-zero if any step failed; the interop tests run even when `swift test` failed.
set -euo pipefail

# The whole script is one { ... } block, so bash reads it completely before running it: a
# `git pull` or an edit of this file during a run cannot change what the run executes.
{

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.build/venv"
REQUIREMENTS="Tests/Interop/requirements.txt"
PYTEST_TIMEOUT_S=1800 # a backstop only: every wait inside the tests is bounded

section() {
    printf '\n========== %s ==========\n' "$*"
}

# --- Debian packages --------------------------------------------------------------------

APT_UPDATED=0

# ensure_debian_packages PKG...: install the given Debian packages that are not installed.
ensure_debian_packages() {
    local pkg
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            echo "error: need root or sudo to install Debian packages: ${missing[*]}" >&2
            return 1
        fi
    fi
    echo "Installing Debian packages: ${missing[*]}"
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
        APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"
}

python_can_make_venvs() {
    # Debian's python3 ships venv without ensurepip (that is in python3-venv); a pyenv
    # build has both.
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' >/dev/null 2>&1
}

# The Debian packages the suite needs, one name per line. Add packages to ALWAYS, e.g.
#   chromium chromium-driver postgresql libsqlite3-dev
debian_packages_needed() {
    # chromium + chromium-driver: test_chat_browser.py; unzip: the README's client bundle recipe;
    # openssl: the self-signed certificates of the client's TLS tests (ParleyTesting)
    # libsqlite3-dev: the recovery store (GRDB links the system SQLite)
    local ALWAYS=(chromium chromium-driver unzip openssl libsqlite3-dev)
    if [ "${#ALWAYS[@]}" -gt 0 ]; then
        printf '%s\n' "${ALWAYS[@]}"
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo python3
    fi
    if ! command -v python3 >/dev/null 2>&1 || ! python_can_make_venvs; then
        echo python3-venv
    fi
}

section "Debian packages"
if ! command -v dpkg >/dev/null 2>&1; then
    echo "dpkg not found (not Debian?): skipping the Debian package check"
else
    mapfile -t NEEDED < <(debian_packages_needed)
    if [ "${#NEEDED[@]}" -gt 0 ]; then
        ensure_debian_packages "${NEEDED[@]}"
    fi
    echo "ok"
fi
if ! python_can_make_venvs; then
    echo "error: '$(command -v python3)' cannot create virtual environments (python3 -m venv / ensurepip)" >&2
    exit 1
fi

# --- Python venv with the interop peers -------------------------------------------------

section "Python venv (.build/venv)"
STAMP="$VENV/.requirements-stamp"
WANT_STAMP="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    mkdir -p "$ROOT/.build"
    python3 -m venv "$VENV"
fi
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT_STAMP" ]; then
    echo "up to date ($REQUIREMENTS unchanged)"
else
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"
    printf '%s\n' "$WANT_STAMP" >"$STAMP"
    echo "installed $REQUIREMENTS"
fi

# --- Swift ------------------------------------------------------------------------------

FAILED=()

section "swift build"
if ! swift build; then
    FAILED+=("swift build")
fi

section "swift test"
# Swift tests that drive independent peers (python-socketio) find them through this, and
# those that run the sample servers as processes (SIGKILL and restart) find them in PARLEY_BIN.
export PARLEY_PYTHON="$VENV/bin/python"
PARLEY_BIN="$(swift build --show-bin-path)"
export PARLEY_BIN
# One test at a time: the live tests time real sockets and heartbeats, and on a 2-core
# machine python peers starting in parallel tests can stall them for a second (about 50 s
# in all, against 20 s in parallel).
if ! swift test --no-parallel; then
    FAILED+=("swift test")
fi

# --- Fuzzing and WebSocket conformance ---------------------------------------------------

section "fuzz (Tests/Fuzz/run.sh, 20 s per target)"
# A short run of every libFuzzer target (with AddressSanitizer), so they stay buildable and
# the corpus keeps being exercised; the long runs are Tests/Fuzz/README.md's.
if ! bash Tests/Fuzz/run.sh --seconds 20; then
    FAILED+=("fuzz")
fi

section "Autobahn|Testsuite (Tests/Autobahn/run.sh)"
if ! PARLEY_BIN="$(swift build --show-bin-path)" bash Tests/Autobahn/run.sh; then
    FAILED+=("autobahn")
fi

# --- Interop tests ----------------------------------------------------------------------

section "interop tests (pytest Tests/Interop)"
echo "PARLEY_BIN=$PARLEY_BIN"
PYTEST=("$VENV/bin/python" -m pytest -q Tests/Interop -o cache_dir=.build/pytest-cache)
if command -v timeout >/dev/null 2>&1; then
    PYTEST=(timeout --kill-after=30 "$PYTEST_TIMEOUT_S" "${PYTEST[@]}")
fi
if ! PARLEY_BIN="$PARLEY_BIN" PYTHONDONTWRITEBYTECODE=1 "${PYTEST[@]}"; then
    FAILED+=("interop tests")
fi

# --- Summary ----------------------------------------------------------------------------

section "summary"
if [ "${#FAILED[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "all passed"
exit 0
}

#!/usr/bin/env bash
# Autobahn|Testsuite's fuzzingclient against the engine's own WebSocket code:
# `bash Tests/Autobahn/run.sh` from anywhere in the repository.
#
# Installs the fuzzingclient (Python 2.7 from pyenv, under .build/autobahn, once), builds
# EngineEcho, starts it on a free loopback port with a raw WebSocket echo path (the engine's
# upgrader, frame parser and frame writer without the Engine.IO layer), runs cases 1-7, 9 and
# 10, stops the server, and prints the count of each behavior and every FAILED case.
# Exits non-zero if any case FAILED or the run itself broke.
#
# Environment: PARLEY_BIN (a folder holding a built EngineEcho: skips the build),
# PYTHON2 (a Python 2.7 interpreter), AUTOBAHN_CASES (a comma-separated case list, default
# "1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*").
set -euo pipefail
{

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

WORK="$ROOT/.build/autobahn"
PREFIX="$WORK/prefix"      # absolute: pip's setup.py installs resolve a relative prefix elsewhere
SITE="$PREFIX/lib/python2.7/site-packages"
STAMP="$PREFIX/.installed-0.8.2+25.10.1"
CASES="${AUTOBAHN_CASES:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,9.*,10.*}"
WSTEST_TIMEOUT_S=1200 # a backstop: the whole run takes well under a minute against a fast server
mkdir -p "$WORK"

# --- the fuzzingclient ----------------------------------------------------------------------

PYTHON2="${PYTHON2:-}"
if [ -z "$PYTHON2" ]; then
    # pyenv may be installed without being on PATH (a non-interactive shell skips .bashrc).
    PYENV_ROOT_GUESS="$(command -v pyenv >/dev/null 2>&1 && pyenv root || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
    if [ -x "$PYENV_ROOT_GUESS/versions/2.7.18/bin/python" ]; then
        PYTHON2="$PYENV_ROOT_GUESS/versions/2.7.18/bin/python"
    else
        echo "error: no Python 2.7 (set PYTHON2, or install 2.7.18 with pyenv)" >&2
        exit 1
    fi
fi
if [ ! -f "$STAMP" ]; then
    echo "Installing autobahntestsuite into $PREFIX"
    rm -rf "$PREFIX"
    PIP=("$PYTHON2" -m pip install --disable-pip-version-check --no-input -q --prefix "$PREFIX")
    # 0.8.2 pins a dependency set that still installs on 2.7; 25.10.1 over it is the current suite.
    "${PIP[@]}" autobahntestsuite==0.8.2
    "${PIP[@]}" --no-deps autobahntestsuite==25.10.1
    touch "$STAMP"
fi
# zope.interface is a namespace package: its .pth file only works through site.addsitedir.
WSTEST=("$PYTHON2" -c "import site, sys; site.addsitedir(sys.argv.pop(1)); sys.argv[0] = 'wstest'; from autobahntestsuite.wstest import run; sys.exit(run())" "$SITE")

# --- the server -----------------------------------------------------------------------------

if [ -z "${PARLEY_BIN:-}" ]; then
    swift build --product EngineEcho
    PARLEY_BIN="$(swift build --show-bin-path)"
fi

OUT="$WORK/server.out"
rm -f "$OUT"
mkfifo "$OUT"
# Large messages (case 9: up to 16 MiB) are within the limit so that they are echoed.
"$PARLEY_BIN/EngineEcho" --host 127.0.0.1 --port 0 --raw-websocket-echo /echo \
    --max-payload 67108864 --log-level error >"$OUT" 2>"$WORK/server.err" &
SERVER_PID=$!
stop_server() {
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap stop_server EXIT
exec 3<"$OUT"
LINE=""
if ! read -r -t 60 LINE <&3; then
    echo "error: EngineEcho did not announce its port (exited, or silent for 60 s)" >&2
    cat "$WORK/server.err" >&2
    exit 1
fi
PORT="$(printf '%s\n' "$LINE" | sed -n 's#.*http://[^:]*:\([0-9][0-9]*\)/.*#\1#p')"
if [ -z "$PORT" ]; then
    echo "error: no port in '$LINE'" >&2
    exit 1
fi
echo "EngineEcho (pid $SERVER_PID) serves the raw echo on ws://127.0.0.1:$PORT/echo"

# --- the run --------------------------------------------------------------------------------

REPORTS="$WORK/reports"
rm -rf "$REPORTS"
SPEC="$WORK/fuzzingclient.json"
"$PYTHON2" - "$SPEC" "$REPORTS" "$PORT" "$CASES" <<'PY'
import json, sys
spec_path, reports, port, cases = sys.argv[1:5]
json.dump({
    "options": {"failByDrop": False},
    "outdir": reports,
    "servers": [{"agent": "Parley", "url": "ws://127.0.0.1:%s/echo" % port, "options": {"version": 18}}],
    "cases": cases.split(","),
    "exclude-cases": [],
    "exclude-agent-cases": {},
}, open(spec_path, "w"), indent=2)
PY
STARTED=$(date +%s)
set +e
( cd "$WORK" && timeout --kill-after=10 "$WSTEST_TIMEOUT_S" "${WSTEST[@]}" -m fuzzingclient -s "$SPEC" ) >"$WORK/wstest.log" 2>&1
WSTEST_STATUS=$?
set -e
echo "wstest exited with $WSTEST_STATUS after $(( $(date +%s) - STARTED )) s (log: $WORK/wstest.log)"
stop_server
exec 3<&-
rm -f "$OUT"

# --- the verdict ----------------------------------------------------------------------------

set +e
python3 - "$REPORTS" <<'PY'
import json, os, sys
reports = sys.argv[1]
index_path = os.path.join(reports, "index.json")
if not os.path.exists(index_path):
    print("error: no %s" % index_path)
    sys.exit(2)
index = json.load(open(index_path))
results = index["Parley"]
order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
counts = {name: 0 for name in order}
by_behavior = {name: [] for name in order}

def case_key(case_id):
    return [int(part) for part in case_id.split(".")]

for case_id in sorted(results, key=case_key):
    result = results[case_id]
    behavior = result["behavior"]
    counts[behavior] = counts.get(behavior, 0) + 1
    by_behavior.setdefault(behavior, []).append((case_id, result))
print("Autobahn|Testsuite fuzzingclient: %d cases" % len(results))
for name in order:
    print("  %-13s %d" % (name, counts[name]))
for name in ("FAILED", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"):
    for case_id, result in by_behavior[name]:
        detail = json.load(open(os.path.join(reports, result["reportfile"])))
        print("%s %s (close: %s, remote code %s): %s" % (name, case_id, result.get("behaviorClose"), result.get("remoteCloseCode"), detail.get("description", "").strip().splitlines()[0]))
        if name == "FAILED":
            print("    expected: %s" % detail.get("expectation", "").strip())
            print("    result:   %s" % detail.get("result", "").strip())
sys.exit(1 if counts["FAILED"] else 0)
PY
VERDICT=$?
set -e
if [ "$WSTEST_STATUS" -ne 0 ]; then
    echo "error: wstest failed (status $WSTEST_STATUS); see $WORK/wstest.log" >&2
    exit 1
fi
exit "$VERDICT"
}

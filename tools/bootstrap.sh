# Shared by tools/run-tests and tools/run-demo: install what the job needs on
# a fresh machine, without touching the system Python.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS_VENV=${TOOLS_VENV:-$REPO/.stack/tools-venv}

ensure_tox() {
    if [ ! -x "$TOOLS_VENV/bin/tox" ]; then
        echo "bootstrap: installing tox into $TOOLS_VENV"
        python3 -m venv "$TOOLS_VENV"
        "$TOOLS_VENV/bin/python" -m pip install --quiet 'tox>=4.4,<5'
    fi
    export PATH="$TOOLS_VENV/bin:$PATH"
}

# Prometheus and promtool come from Debian's package; the tests run the
# binary themselves, so the package's own service is not needed.
ensure_prometheus() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
        return
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "bootstrap: install Debian's 'prometheus' package (as root:" \
             "apt-get install prometheus) and run again" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian's prometheus package"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
}

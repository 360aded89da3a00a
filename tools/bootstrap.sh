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

# Debian packages the functional tests and the demo run themselves, each on
# its own data directory: Prometheus and promtool for the metrics, MariaDB
# for CloudKitty's database (the hashmap migrations do not run on sqlite),
# InfluxDB 1.x for the rated data of tox -e tempest (storage v2, as in the
# devstack job), etcd for the processors that share their scopes through
# tooz (functional.test_scale_out). The packages' own services are not
# needed.
ensure_services() {
    local missing=()
    command -v prometheus >/dev/null && command -v promtool >/dev/null ||
        missing+=(prometheus)
    [ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null ||
        missing+=(mariadb-server)
    [ -x /usr/bin/influxd ] || missing+=(influxdb)
    command -v etcd >/dev/null || missing+=(etcd-server)
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "bootstrap: install Debian's ${missing[*]} (as root: apt-get" \
             "install ${missing[*]}) and run again" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian's ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

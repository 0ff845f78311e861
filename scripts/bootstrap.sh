#!/bin/sh
# Set up natsim on a fresh Debian machine (run as root): the kernel tools the tests and live mode use,
# a virtual environment in .venv, and natsim installed into it (editable) with its test dependencies.
# Safe to run again: it installs only what is missing.
set -eu
cd "$(dirname "$0")/.."

APT_PACKAGES="iptables ipset iproute2 nftables conntrack procps python3 python3-venv python3-pip"
missing=""
for pkg in $APT_PACKAGES; do
    # "installed", not merely known to dpkg (a removed package keeps its config files and its record)
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q ' installed$' || missing="$missing $pkg"
done
# python3 from elsewhere (pyenv) is fine as long as it can make a venv.
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
    if command -v python3 >/dev/null 2>&1 && python3 -m venv --help >/dev/null 2>&1; then
        missing=$(echo "$missing" | tr ' ' '\n' | grep -v '^python3' | tr '\n' ' ')
    fi
    if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
        echo "bootstrap: installing Debian packages:$missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import natsim, lark, pyroute2, hypothesis, jsonschema' 
echo "bootstrap: natsim is installed in .venv ($(.venv/bin/natsim --help >/dev/null && echo ok))" >&2

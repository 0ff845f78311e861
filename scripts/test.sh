#!/bin/sh
# Run natsim's whole test suite, kernel tests included (they need root and network namespaces;
# without them they skip, each with its reason).  Sets up everything first.
set -eu
cd "$(dirname "$0")/.."
sh scripts/bootstrap.sh
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
# pytest's 5 means "no tests collected": for CI that is a failure, not a pass.
exit $status

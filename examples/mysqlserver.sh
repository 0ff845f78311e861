#!/bin/sh
# The bundled example: a Docker host after `docker run --name mysqlserver -p 8066:3306 mysql`.
# Why is port 8066 reachable from outside, from the host itself, and from another container?
# Run from anywhere after scripts/bootstrap.sh:  sh examples/mysqlserver.sh   (NATSIM=natsim to use another install)
set -eu
cd "$(dirname "$0")/.."
NATSIM=${NATSIM:-.venv/bin/natsim}
for from in outside host container:webapp; do
    echo "\$ natsim explain examples/mysqlserver --from $from --to host:8066/tcp"
    "$NATSIM" explain examples/mysqlserver --from "$from" --to host:8066/tcp
    echo
done

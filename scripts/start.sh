#!/usr/bin/env bash
# `npm start`: installs what is missing, then becomes stratad. `exec` matters: the process
# npm waits for, and forwards SIGTERM/SIGINT to, is then the daemon itself, so npm exits
# only once stratad has released everything (pool mount, loop device, networks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node_modules/.bin/node packages/daemon/src/main.ts "$@"

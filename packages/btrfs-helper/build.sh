#!/usr/bin/env bash
# Builds packages/btrfs-helper/build/strata-btrfs when a source is newer than the binary.
# Prints nothing when it is up to date, so scripts can call it on every run.
set -euo pipefail
cd "$(dirname "$0")"
bin=build/strata-btrfs
if [[ -x "$bin" && -z "$(find src Makefile -newer "$bin" -print -quit)" ]]; then
  exit 0
fi
echo "strata: building strata-btrfs" >&2
make --no-print-directory -s >&2

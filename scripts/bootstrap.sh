#!/usr/bin/env bash
# Installs whatever Strata needs and is missing on a Debian 12 host: Debian packages,
# the npm dependencies, and the Node 24 runtime (the `node` npm package, so npm scripts
# run on 24 whatever Node the host ships). Idempotent, and quick when all is there.
#
#   scripts/bootstrap.sh          what the daemon and the test suite need
#   scripts/bootstrap.sh bench    also what `npm run bench` compares against (podman)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(btrfs-progs crun mmdebstrap nftables iproute2 uidmap util-linux ca-certificates gcc make libc6-dev)
if [[ "${1:-}" == "bench" ]]; then packages+=(podman); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "strata: missing Debian packages: ${missing[*]}" >&2
    echo "hint: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "strata: installing Debian packages: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# `npm install` (not `npm ci`) because npm drops other platforms' optional packages
# (biome's per-OS binaries) from the lock file, and `npm ci` then refuses it. The stamp
# holds a hash of the manifests, so an unchanged checkout skips npm entirely.
stamp=node_modules/.strata-installed
want="$(cat package.json packages/*/package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [[ ! -x node_modules/.bin/node || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "strata: installing npm packages (and Node 24)" >&2
  npm install --no-audit --no-fund --loglevel=error >&2
  want="$(cat package.json packages/*/package.json package-lock.json | sha256sum | cut -d' ' -f1)"
  echo "$want" >"$stamp"
fi

# The sandbox agent (static C, PID 1 of every sandbox) and the daemon's btrfs co-process;
# silent when up to date.
bash packages/agent/build.sh
bash packages/btrfs-helper/build.sh

version="$(node_modules/.bin/node --version)"
if [[ "$version" != v24.* ]]; then
  echo "strata: expected Node 24 from node_modules/.bin/node, found $version" >&2
  exit 1
fi

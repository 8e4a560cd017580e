#!/usr/bin/env bash
# Installs the system packages P2PDB builds against, when they are missing.
# Sourced by scripts/node and scripts/test; safe to run again.
set -euo pipefail

missing=()
command -v swift >/dev/null 2>&1 || { echo "setup: Swift 6.1 or newer must be on PATH (https://swift.org/install)" >&2; exit 1; }
dpkg -s libsqlite3-dev >/dev/null 2>&1 || missing+=(libsqlite3-dev)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

#!/usr/bin/env bash
# Installs the system packages P2PDB builds against, when they are missing.
# Sourced by scripts/node, scripts/test, scripts/install and
# scripts/release-tarball; safe to run again.
set -euo pipefail

command -v swift >/dev/null 2>&1 || { echo "setup: Swift 6.1 or newer must be on PATH (https://swift.org/install)" >&2; exit 1; }

# Installs those of the given Debian packages that are missing.
install_missing() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "setup: installing ${missing[*]}" >&2
  local sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
}

install_missing libsqlite3-dev

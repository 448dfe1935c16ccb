#!/usr/bin/env bash
# Installs the Debian 12 packages Osprey needs to build, test and run. Idempotent: when every
# package is present it returns at once without touching apt.
set -euo pipefail

PACKAGES=(
  # DPDK 22.11 runtime (net_pcap, net_ring, net_null drivers) and headers
  dpdk dpdk-dev libdpdk-dev
  # pattern matching, storage, API code generation
  libhyperscan-dev librocksdb-dev protobuf-compiler libprotobuf-dev libpcre2-dev
  # bindgen and the C shim
  clang libclang-dev pkg-config build-essential
  # captures
  libpcap-dev
  # conformance runner
  python3 python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs the Debian 12 packages Osprey needs to build, test and run, then the Python tools
# the tests use into the repository's own virtual environment (.venv/, ignored by git): dpkt
# (tests/intel.rs reads captures with it, independently of Osprey) and medallion (a TAXII 2.1
# server). Idempotent: when every package is present it touches neither apt nor pip.
#
# The traffic lab (tests/lab/) also needs real servers, clients and attack tools; they run
# only inside the lab's network namespaces, so installing them must not start them on the
# host: while apt runs, a policy-rc.d that denies service starts is put in place (and removed
# afterwards) when the machine has none.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PYTHON_PACKAGES=(dpkt==1.9.8 medallion==3.0.0)

PACKAGES=(
  # DPDK 22.11 runtime (net_pcap, net_ring, net_null drivers) and headers
  dpdk dpdk-dev libdpdk-dev
  # pattern matching, storage, API code generation
  libhyperscan-dev librocksdb-dev protobuf-compiler libprotobuf-dev libpcre2-dev
  # bindgen and the C shim
  clang libclang-dev pkg-config build-essential
  # captures
  libpcap-dev
  # conformance runner, and the tests' virtual environment
  python3 python3-yaml python3-venv
  # headless Chromium: the console's browser tests (over WebDriver) and PDF reports;
  # pdftotext checks the reports' text
  chromium chromium-driver poppler-utils
  # the traffic lab (tests/lab/): namespaces, offloads off (wire-sized frames with their
  # checksums), capture
  iproute2 ethtool tcpdump
  # the lab's servers (dnsmasq-base: the binary without a host-wide service)
  nginx openssh-server dnsmasq-base vsftpd iperf3
  # the lab's benign clients (FTP through curl)
  openssh-client dnsutils curl wget
  # the lab's attack tools
  nmap hping3 slowhttptest hydra iodine
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

install_packages() {
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  echo "install-deps: installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  deny_service_starts
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# The lab's servers (nginx, sshd, vsftpd) must not start on the host when installed: a
# policy-rc.d answering 101 ("action forbidden") for the duration of apt, unless the machine
# already has one (then it decides).
POLICY_RC=/usr/sbin/policy-rc.d
deny_service_starts() {
  if [ -e "$POLICY_RC" ]; then
    return
  fi
  printf '#!/bin/sh\n# osprey install-deps: no service starts while installing\nexit 101\n' |
    $sudo tee "$POLICY_RC" >/dev/null
  $sudo chmod 755 "$POLICY_RC"
  # shellcheck disable=SC2064 # expanded now: $sudo is local to the caller
  trap "$sudo rm -f $POLICY_RC" EXIT
}

# The pinned Python packages, into .venv/ (created when absent).
install_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "install-deps: creating $VENV"
    python3 -m venv "$VENV"
  fi
  local want=()
  for spec in "${PYTHON_PACKAGES[@]}"; do
    local name="${spec%%==*}" version="${spec##*==}"
    if [ "$("$VENV/bin/pip" show "$name" 2>/dev/null | sed -n 's/^Version: //p')" != "$version" ]; then
      want+=("$spec")
    fi
  done
  if [ ${#want[@]} -gt 0 ]; then
    echo "install-deps: installing ${want[*]} into $VENV"
    "$VENV/bin/pip" install -q "${want[@]}"
  fi
}

install_packages
install_venv

#!/usr/bin/env bash
# Installs every build and test dependency of firkin with apt-get (and npm where a test needs
# npm packages). Idempotent: it installs only what is missing. `--check` only reports.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

packages=(
  # build
  build-essential meson ninja-build pkg-config clang libclang-rt-14-dev python3
  # man pages (man/*.scd)
  scdoc
  # libraries
  libjansson-dev libssl-dev libcurl4-openssl-dev libarchive-dev libzstd-dev
  libseccomp-dev libcap-dev libmicrohttpd-dev libcmocka-dev zlib1g-dev
  # the egress data plane: netlink and nftables
  libmnl-dev libnftables-dev libnftnl-dev libnetfilter-conntrack-dev
  # the Debian packages (debian/, tests/integration/deb.sh)
  debhelper dpkg-dev fakeroot lintian
  # images and the registry the tests run on loopback
  busybox-static debootstrap docker-registry skopeo umoci zstd
  # sandbox plumbing and the peers the benchmarks measure
  iproute2 uidmap util-linux procps crun bubblewrap
  # the network tests' fake internet and the network benchmark
  nftables conntrack dnsmasq-base iperf3
  # fk-oci against the real engines, and the build/commit peers of the snapshot benchmark
  runc podman conmon containerd buildah bats tmux
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

# node and npm: the machine's own when it has them (its node bundles npm), else Debian's.
if ! command -v npm >/dev/null 2>&1; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  missing+=(npm)
fi

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}" >&2
    exit 1
  fi
  exit 0
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# docker-registry's package starts a system service on :5000; the tests start their own
# on a loopback port of their choosing, so the packaged one is not needed.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active -q docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

if [ -f "$top/package.json" ] && [ ! -d "$top/node_modules" ]; then
  (cd "$top" && npm ci --no-audit --no-fund --loglevel=error)
fi

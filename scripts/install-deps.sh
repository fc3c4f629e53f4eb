#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages Telltale needs to build, test
# and fuzz. The one place the package list lives: .ci/run, tests/run_all.sh and
# scripts/run.sh all call it. Does nothing (quickly) when every package is
# already installed; otherwise runs `apt-get update` once and installs the
# missing ones. Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
    build-essential    # gcc, make, libc headers
    cmake
    ninja-build
    pkg-config
    clang              # sanitizer and fuzz builds
    clang-format       # tests/check_format.sh (version 14 on Debian 12)
    libclang-rt-14-dev # LLVM 14 runtime: libFuzzer, ASan, UBSan for clang
    libzstd-dev
    liblz4-dev
    libpcre2-dev       # regex label matchers (PromQL =~, !~)
    libmicrohttpd-dev  # the server's HTTP API
    libjansson-dev     # JSON request bodies and configs
    libsnappy-dev      # Prometheus remote write bodies (snappy block format)
    libcmocka-dev      # unit tests
    python3            # tests/check_source.sh, integration tests
    zstd
    curl               # scripts/run.sh talks to the server
    libcurl4-openssl-dev # the agent scrapes Prometheus endpoints
    libssl-dev         # libcrypto: the agent's sha256 file and code digests
    libyaml-dev        # the agent's YAML file checks
    libsqlite3-dev     # the server's digest store (DATA/digests.sqlite)
    prometheus         # a real remote-write client for tests/integration/remote_write_prometheus.sh
    prometheus-node-exporter # scrape target and reference for tests/integration/agent_*.sh
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done
# Node.js and npm for tests/integration/otel_js.sh (the OpenTelemetry JS SDK
# from npm): Debian's nodejs and npm, unless a node and npm are already on
# PATH (e.g. NodeSource's nodejs, which bundles npm and conflicts with
# Debian's npm package).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-deps: missing packages and not root (no sudo): ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q </dev/null
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null

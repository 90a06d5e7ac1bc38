#!/usr/bin/env bash
# Makes sure a Prometheus server binary is installed (Debian's package),
# for the test that scrapes squall's live metrics endpoint with it. It
# only installs: the test starts its own Prometheus on loopback with a
# generated config and stops it again. Idempotent; prints the binary's path.
set -euo pipefail

find_prometheus() {
	command -v prometheus 2>/dev/null || { test -x /usr/bin/prometheus && echo /usr/bin/prometheus; }
}

if bin=$(find_prometheus); then
	echo "$bin"
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "ensure-prometheus: no prometheus binary and no apt-get: install Prometheus and put it on PATH" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# The package's own service would listen on :9090; the test needs only the
# binary, so keep the service from starting (no systemd in containers
# anyway, and policy-rc.d covers sysvinit).
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get install -y --no-install-recommends prometheus >&2 ||
	{ $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends prometheus >&2; }
# A package whose service did start anyway: stop it, the test runs its own.
if command -v service >/dev/null && service prometheus status >/dev/null 2>&1; then
	$sudo service prometheus stop >&2 || true
fi
find_prometheus || { echo "ensure-prometheus: installed the package but found no prometheus binary" >&2; exit 1; }

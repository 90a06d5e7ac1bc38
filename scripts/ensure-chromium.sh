#!/bin/sh
# ensure-chromium.sh: make Debian's headless-capable chromium available for
# the HTML report's browser test, installing it with apt when it is missing.
# Prints the browser's path on stdout; exits non-zero (with the reason on
# stderr) when it is not installed and cannot be.
set -eu

find_browser() {
	for b in chromium chromium-browser google-chrome; do
		if p=$(command -v "$b" 2>/dev/null); then
			echo "$p"
			return 0
		fi
	done
	return 1
}

if find_browser; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "ensure-chromium: chromium is not installed and installing it needs root: run 'sudo apt-get install -y chromium'" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "ensure-chromium: chromium is not installed and there is no apt-get: install a chromium yourself" >&2
	exit 1
fi
# One update only when the package is unknown to the local index (the
# lists may be empty in a fresh container).
if ! apt-cache show chromium >/dev/null 2>&1; then
	apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
fi
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq chromium >&2
find_browser

#!/usr/bin/env bash
# Build the official Temporal server binary (go.temporal.io/server/cmd/server)
# at VERSION through the Go module proxy, once, into a cache:
#
#   scripts/server-binary.sh v1.31.5
#   ...
#   /root/.cache/squall/temporal-server/v1.31.5/temporal-server   <- last line
#
# The last line of output is always the binary's path, so callers can take it
# with `| tail -n1`. A cached binary is reused without touching the network.
#
# The build happens in a throwaway module that requires the server at VERSION,
# so nothing of squall's own go.mod leaks into it. Some published server
# versions pin a dependency version the proxy no longer serves (v1.31.x pins a
# pseudo-version of go.temporal.io/auto-scaled-workers); for those the module
# is pointed at a served version with a replace directive (see fixups below),
# the same substitution an operator building from source has to make.
#
# Environment:
#   SQUALL_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/squall)
#   GOTOOLCHAIN    passed through; the server needs a recent Go (e.g. go1.27.3)
set -euo pipefail

say() { echo "server-binary: $*" >&2; }

if [ $# -ne 1 ] || [ -z "${1:-}" ]; then
	say "usage: scripts/server-binary.sh VERSION   (e.g. v1.31.5)"
	exit 2
fi
VERSION="$1"
case "$VERSION" in
v[0-9]*.[0-9]*.[0-9]*) ;;
*)
	say "version '$VERSION' is not a semantic version like v1.31.5"
	exit 2
	;;
esac

CACHE="${SQUALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/squall}"
DIR="$CACHE/temporal-server/$VERSION"
BIN="$DIR/temporal-server"

if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
	echo "$BIN"
	exit 0
fi

command -v go >/dev/null || { say "go is not on PATH"; exit 1; }
mkdir -p "$DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/squall-server-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
# The module's go directive is whatever the toolchain says; the server's own
# go.mod raises it as needed.
go mod init squall.local/temporal-server-build >/dev/null 2>&1
say "resolving go.temporal.io/server@$VERSION through $(go env GOPROXY)"
# Resolve the whole command's import graph (not just the module), so a
# dependency the proxy does not serve shows up here.
if ! go get "go.temporal.io/server/cmd/server@$VERSION" >"$WORK/get.log" 2>&1; then
	# go.temporal.io/auto-scaled-workers: the server pins a pre-release the
	# proxy refuses ("not available"). Substitute the newest served release,
	# as a local copy whose go.mod requires this server version instead of
	# the newer one it was cut against (else MVS would upgrade the server).
	ASW=go.temporal.io/auto-scaled-workers
	if grep -q "$ASW@.*not available\|$ASW@.*403" "$WORK/get.log"; then
		LATEST=$(go list -m -versions "$ASW" | tr ' ' '\n' | tail -n1)
		say "$ASW: the pinned version is not served; substituting $LATEST"
		SRC=$(go mod download -json "$ASW@$LATEST" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		[ -n "$SRC" ] || { say "cannot download $ASW@$LATEST"; exit 1; }
		cp -r "$SRC" "$WORK/auto-scaled-workers"
		chmod -R u+w "$WORK/auto-scaled-workers"
		# Its go.mod also raises go.temporal.io/api (and sdk) past what this
		# server compiles against (the API gains methods the server's
		# clients then lack): hold them at the server's own versions.
		SGM=$(go mod download -json "go.temporal.io/server@$VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
		API=$(awk '$1=="go.temporal.io/api"{print $2}' "$SGM")
		SDK=$(awk '$1=="go.temporal.io/sdk"{print $2}' "$SGM")
		(cd "$WORK/auto-scaled-workers" && go mod edit -require "go.temporal.io/server@$VERSION" \
			${API:+-require "go.temporal.io/api@$API"} ${SDK:+-require "go.temporal.io/sdk@$SDK"})
		# One constant it takes from the newer server's worker_versioning
		# package is its own (wci/client): use the value itself.
		sed -i 's/worker_versioning\.SignalSyncValidationStatus/"sync-validation-status"/' \
			"$WORK/auto-scaled-workers/wci/workflow/workflow.go"
		go mod edit -replace "$ASW=./auto-scaled-workers"
		[ -z "$API" ] || go mod edit -require "go.temporal.io/api@$API"
	fi
	if ! go get "go.temporal.io/server/cmd/server@$VERSION" >"$WORK/get.log" 2>&1; then
		cat "$WORK/get.log" >&2
		say "cannot resolve go.temporal.io/server@$VERSION (see above)"
		exit 1
	fi
fi
START=$(date +%s)
say "building go.temporal.io/server/cmd/server@$VERSION (takes minutes)"
if ! CGO_ENABLED=0 go build -trimpath -o "$BIN.tmp" go.temporal.io/server/cmd/server >"$WORK/build.log" 2>&1; then
	cat "$WORK/build.log" >&2
	say "build of go.temporal.io/server@$VERSION failed (see above)"
	exit 1
fi
mv "$BIN.tmp" "$BIN"
say "built in $(($(date +%s) - START)) s, $(du -h "$BIN" | cut -f1)"
echo "$BIN"

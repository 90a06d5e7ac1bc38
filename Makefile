# squall: `make bench` runs the main benchmark, `make test` runs the tests.
# Both do all set-up themselves on a fresh machine.

# The embedded Temporal server needs Go >= 1.26.10; the go command fetches
# this toolchain through the module proxy. This is the one approved way.
export GOTOOLCHAIN := go1.27.3
# Static binary (FROM scratch image) and one build cache for build and test.
export CGO_ENABLED := 0
export TESTCONTAINERS_RYUK_DISABLED := true

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X github.com/squallbench/squall/cli.version=$(VERSION) -X github.com/squallbench/squall/cli.commit=$(COMMIT)
BIN     := bin/squall
LEAN_BIN := bin/squall-lean

# `make bench` defaults: noop, open loop, about 60 s on the embedded server.
BENCH_SCENARIO ?= noop
BENCH_RATE     ?= 25/s
BENCH_DURATION ?= 60s
BENCH_ARGS     ?=

.PHONY: build temporal-server bench bench-driver chaos chaos-matrix soak test test-short test-containers lint image clean example upgrade docs docs-check

# bin/squall-lean is the same squall without the Temporal server and the
# container engine (-tags squall_lean, cluster/lean.go): for driving and
# verifying a cluster someone else runs, in less than half the memory.
build:
	go build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/squall
	go build -tags squall_lean -ldflags '$(LDFLAGS)' -o $(LEAN_BIN) ./cmd/squall

# The official server command (go.temporal.io/server/cmd/server) at the
# version squall embeds, from squall's own module (go.mod's tool line), so
# it shares the build cache: seconds once squall is built. The topology
# tests run nodes on it with --server-binary.
temporal-server:
	go build -o bin/temporal-server go.temporal.io/server/cmd/server

bench: build
	./$(BIN) run --scenario $(BENCH_SCENARIO) --rate $(BENCH_RATE) --duration $(BENCH_DURATION) $(BENCH_ARGS)

# The driver alone against a fake Temporal frontend (bench/fakefrontend):
# its ceiling at rising rates (last line "ceiling: ..."), or with
# BENCH_DRIVER_WORKFLOWS=1000000 one run of a million workflows in bounded
# memory (last line "million: ... RSS max N MB ..."). BENCH_DRIVER_OMES=PATH
# runs an omes binary at the same rates beside it; BENCH_DRIVER_SQUALL=bin/squall-lean
# drives with the lean build instead of bin/squall. docs/bench-driver.md.
bench-driver: build
	BENCH_DRIVER_WORKFLOWS=$(BENCH_DRIVER_WORKFLOWS) ./scripts/bench-driver.sh

# End-to-end tests run the real binary; SQUALL_BIN spares each package a build.
# The Postgres tests need a PostgreSQL on loopback: the script installs and
# starts one when absent (and leaves a running one alone).
test: build temporal-server
	./scripts/ensure-postgres.sh >/dev/null
	SQUALL_BIN=$(CURDIR)/$(BIN) SQUALL_LEAN_BIN=$(CURDIR)/$(LEAN_BIN) SQUALL_SERVER_BINARY=$(CURDIR)/bin/temporal-server go test -p 1 -count=1 -timeout 25m ./...
	$(MAKE) example

# The library path: examples/custom-scenario is a module of its own that
# registers a scenario on squall; build it against this checkout and run it
# end to end (exit 0: the run passed, its own invariant included).
example:
	cd examples/custom-scenario && go build -o $(CURDIR)/bin/custom-squall .
	rm -rf bin/example-run
	./bin/custom-squall run --scenario greeting --rate 5/s --duration 8s --out bin/example-run

# A rolling upgrade from the previous minor release under noop and entity
# load: scripts/server-binary.sh builds v1.31.5 through the module proxy
# once (minutes; cached), then the cluster starts on it and moves process by
# process to squall's own server. UPGRADE_FROM picks another version.
UPGRADE_FROM ?= v1.31.5
upgrade: build
	./scripts/ensure-postgres.sh >/dev/null
	SQUALL_BIN=$(CURDIR)/$(BIN) SQUALL_OLD_SERVER_BINARY=$$(./scripts/server-binary.sh $(UPGRADE_FROM) | tail -n1) \
		SQUALL_UPGRADE_SCENARIOS=noop,entity go test -count=1 -v -timeout 30m -run TestTopologyRollingUpgrade ./cli/

# The topologies whose nodes are containers on the project's Postgres
# (relayed to the docker0 bridge): --topology services --cluster container
# with a history-host kill, and docker-compose.offline-services.yml with two
# history hosts. Minutes each, so not part of `make test`.
test-containers: build
	./scripts/ensure-postgres.sh >/dev/null
	SQUALL_BIN=$(CURDIR)/$(BIN) SQUALL_CONTAINER_TOPOLOGY=1 go test -p 1 -count=1 -v -timeout 20m \
		-run 'TestContainerTopologyHistoryKillMovesShards|TestContainerTopologyResumeTakesUpNodes|TestOfflineComposeServicesRunsScenario' ./cluster/ ./deploy/

# Unit tests only: no servers, no containers.
test-short:
	go test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go vet -tags squall_lean ./...
	@# The example is a module of its own: a dependency squall adds must reach
	@# its go.sum too, or `make example` fails at the end of `make test`.
	cd examples/custom-scenario && go mod tidy -diff

# The FROM scratch image: only our own static binary, nothing to pull.
image: build
	rm -rf bin/image && mkdir -p bin/image/data && cp $(BIN) deploy/Dockerfile bin/image/
	docker build -t squall:dev bin/image

clean:
	rm -rf bin

# The reference pages (every command's flags, every scenario and fault kind)
# are generated from the code: `make docs` rewrites docs/reference/, and
# `make docs-check` fails when the checked-in pages differ from what the code
# would write (TestReferenceDocsUpToDate checks the same under `make test`).
docs: build
	rm -rf docs/reference
	./$(BIN) docs --dir docs/reference

docs-check: build
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	./$(BIN) docs --dir "$$tmp" && \
	if diff -r docs/reference "$$tmp" >/dev/null 2>&1; then echo "docs/reference is up to date"; \
	else echo "docs/reference is out of date: run make docs"; exit 1; fi

# Chaos suite: every scenario at moderate scale under a mixed fault schedule
# (worker kill, server kill, network latency and partition, persistence
# errors, API errors where the scenario has fake services); every run must
# end with zero lost workflows and zero invariant violations.
chaos: build
	./scripts/chaos.sh

# Every scenario under every fault kind alone, plus the mixed schedule:
# about 90 minutes here (a nightly job); matrix.md/json/html at the end.
chaos-matrix: build
	./scripts/chaos-matrix.sh

# A one-hour soak at 10/s with a fault every 10 minutes, the driver killed
# with SIGKILL at 28 minutes and continued by `squall run --resume`: the
# report (bin/soak/report.md) covers the whole run with its trends.
# SOAK_* variables change it (scripts/soak.sh lists them).
soak: build
	./scripts/soak.sh

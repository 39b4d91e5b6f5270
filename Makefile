# Rampart build, test and demo entry points. `make demo` and `make test` work
# on a fresh Debian 12 machine: they install what they need first.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

# VERSION and SOURCE_DATE_EPOCH come from the commit, so the same commit
# always builds the same bytes (packaging/version.sh explains the scheme).
VERSION           ?= $(shell packaging/version.sh 2>/dev/null || echo dev)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
COMMIT            ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
COMMIT_SUBJECT    ?= $(shell git log -1 --format=%s 2>/dev/null)
# Evaluated once: a recursive variable would run git on every use.
VERSION           := $(VERSION)
SOURCE_DATE_EPOCH := $(SOURCE_DATE_EPOCH)
COMMIT            := $(COMMIT)
COMMIT_SUBJECT    := $(COMMIT_SUBJECT)
export VERSION SOURCE_DATE_EPOCH COMMIT COMMIT_SUBJECT

PKG  := github.com/rampart-signer/rampart
BIN  := bin
DIST := dist
CMDS := rampart-signer rampart-vc rampart-gateway rampartctl

# Release binaries: cgo PIE with full RELRO and bind-now, _FORTIFY_SOURCE=2
# and the stack protector for the C parts, no build paths (-trimpath), no
# build id or VCS stamp that would differ between identical builds, symbols
# stripped, version stamped. packaging/check-hardening.sh verifies each.
GO_BUILD := CGO_ENABLED=1 CGO_CPPFLAGS='-D_FORTIFY_SOURCE=2' CGO_CFLAGS='-O2 -g0 -fstack-protector-strong' \
	CGO_LDFLAGS='-Wl,-z,relro,-z,now' go build -trimpath -buildvcs=false -buildmode=pie \
	-ldflags '-s -w -buildid= -linkmode=external -extldflags=-Wl,-z,relro,-z,now -X $(PKG)/internal/buildinfo.version=$(VERSION)'

# Debian packages the build and the tests need.
APT_PACKAGES := gcc make git softhsm2 opensc systemd
# ... and those the packaging targets need on top.
APT_PACKAGES_DEB   := dpkg-dev lintian
APT_PACKAGES_IMAGE := debootstrap mtools dosfstools gdisk e2fsprogs qemu-system-x86 ovmf zstd

.PHONY: all deps deps-deb deps-image build test lint vet staticcheck fmt-check bench demo clean \
	deb deb-repro image image-test redteam scripts-check test-standalone monitoring-check deps-promtool

all: build

# apt-install installs the missing Debian packages among $(1) (as root, or
# through sudo when it is there). It changes nothing when all are present.
define apt-install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

# deps installs what building and testing need and downloads Go modules.
deps:
	$(call apt-install,$(APT_PACKAGES))
	@command -v go >/dev/null || { echo "Go 1.26 is required at /usr/local/go (see README.md)"; exit 1; }
	go mod download

deps-deb: deps
	$(call apt-install,$(APT_PACKAGES_DEB))

deps-promtool:
	$(call apt-install,prometheus)

deps-image: deps-deb
	$(call apt-install,$(APT_PACKAGES_IMAGE))

build: deps
	@mkdir -p $(BIN)
	$(GO_BUILD) -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))
	packaging/check-hardening.sh $(VERSION) $(addprefix $(BIN)/,$(CMDS))

vet:
	go vet ./...

staticcheck:
	go tool staticcheck ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: deps fmt-check vet staticcheck

# test runs every test, with the race detector, after the linters.
test: deps fmt-check vet staticcheck scripts-check monitoring-check
	go test -race -count=1 -timeout 30m ./...

# redteam runs the adversarial suite (redteam/ and redteam/slowclient,
# build tag redteam, so that `make test` does not run them): conflicting
# pairs at one start barrier, kill -9 of signer processes mid-stream,
# forged identities, oversized and slow bodies, and a regression test of
# every hole of issue 13 (roles and the administrative token, GENERIC,
# wall-clock bounds, listener caps, the token file, the audit log's
# durability, anchor, checkpoints and rotation, disk headroom, exit
# statuses). It vets and staticchecks the tagged files, then ends with the
# summary table. -p 1: the packages attack real signers one after the
# other, so that neither's figures (memory, descriptors) include the
# other's load. No -race: the attacks count outcomes under real timing on
# real signers, and `make test` already runs every package with the race
# detector. About 3 minutes on 2 cores (redteam/doc.go).
redteam: deps
	go vet -tags redteam ./redteam/...
	go tool staticcheck -tags redteam ./redteam/...
	go test -tags redteam -p 1 -count=1 -timeout 20m -v ./redteam/...

# scripts-check parses every shell script of the tree (bash -n) and tests
# the image build's apt-source parsing (packaging/image/mirror_test.sh).
scripts-check:
	@for f in $$(git ls-files '*.sh' .ci/run 2>/dev/null); do bash -n "$$f" || exit 1; done
	packaging/image/mirror_test.sh

# monitoring-check checks the shipped Prometheus rules (promtool check
# rules) and runs their unit tests (promtool test rules). promtool comes
# with Debian's prometheus package (about 100 MB with its dependencies),
# installed by this target only and only when no promtool is on the PATH;
# on a host booted with systemd its server is enabled on :9090 as the
# package installs it. The Go test in packaging/monitoring (part of
# `go test ./...`) checks the metric names of the rules and the dashboard.
monitoring-check:
	@if ! command -v promtool >/dev/null; then $(MAKE) --no-print-directory deps-promtool; fi
	promtool check rules packaging/monitoring/rampart-alerts.yml
	cd packaging/monitoring && promtool test rules rampart-alerts_test.yml

# test-standalone checks that the repository tests itself: no Go file reads
# a path beside the checkout (../shared), and a clone of the committed tree
# in a directory with nothing beside it passes the tests of every package
# that reads test vectors (.ci/standalone.sh).
test-standalone: deps
	.ci/standalone.sh

# --- Devnet: Prysm and geth on 127.0.0.1 (e2e/) -----------------------------
# e2e-tools builds Prysm's beacon-chain, validator and prysmctl and geth from
# the pinned modules in e2e/tools/ (through the machine's own module proxy,
# `go env GOPROXY`, go.sum-checked)
# into a cache directory keyed by their versions, the Go version and the
# go.sum files, so later runs reuse them. devnet-up prepares a fresh
# single-node Electra devnet in $(DEVNET_DIR) and starts geth and
# beacon-chain in the background (DEVNET_ARGS=--prysm-validator adds
# Prysm's validator client with the 64 interop keys); devnet-down stops the
# processes whose ids devnet-up recorded, and nothing else.
E2E_PRYSM   := v6.1.4
E2E_GETH    := v1.17.10
E2E_CACHE   ?= $(HOME)/.cache/rampart-e2e
E2E_KEY     := prysm-$(E2E_PRYSM)_geth-$(E2E_GETH)_$(shell PATH="$(PATH)" go env GOVERSION GOOS GOARCH 2>/dev/null | paste -sd-)_$(shell cat e2e/tools/prysm/go.sum e2e/tools/geth/go.sum | sha256sum | cut -c1-12)
E2E_BIN     ?= $(E2E_CACHE)/$(E2E_KEY)/bin
DEVNET_DIR  ?= $(E2E_CACHE)/devnet
DEVNET_ARGS ?=
E2E_TOOLS   := beacon-chain validator prysmctl geth

.PHONY: e2e-tools devnet-up devnet-down devnet-test e2e

e2e-tools:
	@if [ -n "$$(for t in $(E2E_TOOLS); do [ -x "$(E2E_BIN)/$$t" ] || echo $$t; done)" ]; then \
		echo "building $(E2E_TOOLS) into $(E2E_BIN) (several minutes, once)"; \
		mkdir -p "$(E2E_BIN).tmp" && \
		(cd e2e/tools/prysm && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=1 \
			go build -o "$(E2E_BIN).tmp/" github.com/OffchainLabs/prysm/v6/cmd/beacon-chain \
			github.com/OffchainLabs/prysm/v6/cmd/validator github.com/OffchainLabs/prysm/v6/cmd/prysmctl) && \
		(cd e2e/tools/geth && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=1 \
			go build -o "$(E2E_BIN).tmp/" github.com/ethereum/go-ethereum/cmd/geth) && \
		rm -rf "$(E2E_BIN)" && mv "$(E2E_BIN).tmp" "$(E2E_BIN)"; \
	fi
	@echo "e2e tools: $(E2E_BIN)"

devnet-up: e2e-tools
	go run ./e2e/cmd/devnet up --dir "$(DEVNET_DIR)" --bin "$(E2E_BIN)" $(DEVNET_ARGS)

devnet-down:
	go run ./e2e/cmd/devnet down --dir "$(DEVNET_DIR)"

# devnet-test runs the long devnet tests (minutes): the chain finalises with
# Prysm's validator client, and beacon/ works against the real node.
devnet-test: e2e-tools
	RAMPART_E2E_BIN="$(E2E_BIN)" go test -count=1 -timeout 30m -v -run 'Devnet' ./e2e/...

# e2e runs every end-to-end test on real devnets (minutes each): the chain
# finalises with Prysm's validator client (its own keys, then signing
# through a Rampart cluster as its remote signer), and with rampart-vc.
e2e: e2e-tools
	RAMPART_E2E_BIN="$(E2E_BIN)" go test -count=1 -timeout 40m -v ./e2e/...

# --- Chaos: the cluster over three simulated sites, under faults ------------
# chaos runs e2e/chaos as root: every signer, validator client and beacon
# host (geth and Prysm) in a network namespace of its own, linked through
# toxiproxy with three sites' latency, jitter and loss, a CPU quota per
# host (cgroups), and one fault after another on the live devnet (signers
# killed, a site partitioned, an asymmetric partition, a slow signer, an
# impostor answering invalid partial signatures, a skewed clock, a full
# disk, a lost HSM token, a beacon node and a validator client killed),
# each judged from the chain. It fails on any slashing, on a lost approval,
# and when a scenario within the cluster's tolerance misses more than 1%
# of its duties; it writes its section of docs/reliability.md and the
# chart beside it. The CI plan holds each fault one epoch (about 10
# minutes in all: 10-11 measured on a machine at load 30, build included);
# chaos-full holds each three epochs (about 25).
CHAOS_BIN ?= $(E2E_CACHE)/chaos-bin
CHAOS_ARGS ?=

.PHONY: chaos chaos-full chaos-build

chaos-build: e2e-tools
	$(call apt-install,iproute2)
	@[ "$$(id -u)" = 0 ] || { echo "make chaos needs root (network namespaces, cgroups, a tmpfs)"; exit 1; }
	go build -o $(CHAOS_BIN)/ ./cmd/rampart-signer ./cmd/rampart-vc ./cmd/rampartctl ./e2e/cmd/chaos

chaos: chaos-build
	$(CHAOS_BIN)/chaos run --plan ci --e2e-bin "$(E2E_BIN)" --rampart-bin $(CHAOS_BIN) --doc docs/reliability.md --commit $(COMMIT) $(CHAOS_ARGS)

chaos-full: chaos-build
	$(CHAOS_BIN)/chaos run --plan full --e2e-bin "$(E2E_BIN)" --rampart-bin $(CHAOS_BIN) --doc docs/reliability.md --commit $(COMMIT) $(CHAOS_ARGS)

# bench runs the benchmarks once each; figures go into the closing notes.
bench: deps
	go test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

# bench-cluster starts a `rampartctl devnet` 2-of-3 cluster (313 validators,
# hedge_delay 0: every signer asked) and a rampart-gateway beside it, runs
# the load generator (rampartctl bench's) through signer 1's coordinator
# over mTLS and through the gateway, and prints the goal table of issue 19
# (ratios to a raw local signature measured in the same run); it writes the
# table, the JSON and the charts into docs/performance/ named after
# BENCH_LABEL. BENCH_SIGNERS_FROM=DIR measures the rampart-signer and
# rampart-gateway in DIR instead (an older build, for a before/after in one
# session). About 3 minutes on 2 cores; not part of `make test` or CI.
BENCH_BIN          ?= $(E2E_CACHE)/bench-bin
BENCH_LABEL        ?= $(COMMIT)
BENCH_SIGNERS_FROM ?=
BENCH_ARGS         ?=

.PHONY: bench-cluster
bench-cluster: deps
	go build -o $(BENCH_BIN)/ ./cmd/rampartctl ./cmd/rampart-signer ./cmd/rampart-gateway ./e2e/cmd/benchcluster
	@if [ -n "$(BENCH_SIGNERS_FROM)" ]; then cp "$(BENCH_SIGNERS_FROM)/rampart-signer" "$(BENCH_SIGNERS_FROM)/rampart-gateway" $(BENCH_BIN)/; fi
	$(BENCH_BIN)/benchcluster --bin $(BENCH_BIN) --label $(BENCH_LABEL) --out docs/performance $(BENCH_ARGS)

demo: build
	$(BIN)/rampartctl demo

# deb builds the .deb packages (rampart-signer, rampart-vc, rampart-gateway,
# rampartctl) into dist/ and lints them; lintian errors fail the build, its
# warnings are explained in packaging/README.md.
deb: deps-deb build
	packaging/deb.sh $(BIN) $(DIST)
	lintian --fail-on error --display-info $(DIST)/*_$(VERSION)_*.deb

# deb-repro builds everything a second time from a copy of the tree in
# another directory with an empty Go build cache, and fails unless the
# .debs are identical byte for byte.
deb-repro: deb
	packaging/repro.sh $(DIST)

# image builds the bootable UEFI disk image dist/rampart-$(VERSION)-amd64.img.
image: deps-image deb
	packaging/image/build.sh $(DIST)

# image-test checks the signer's and the validator client's maintainer
# scripts in a copy of the image (install, upgrade, remove, purge, alone
# and side by side), then boots a provisioned copy under qemu and checks
# the signer from the serial console.
image-test: image
	packaging/image/lifecycle.sh $(DIST)
	packaging/image/test.sh $(DIST)

clean:
	rm -rf $(BIN) $(DIST)

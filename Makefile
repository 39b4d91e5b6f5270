# Rampart build, test and demo entry points. `make demo` and `make test` work
# on a fresh Debian 12 machine: they install what they need first.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PKG     := github.com/rampart-signer/rampart
LDFLAGS := -X $(PKG)/internal/buildinfo.version=$(VERSION)
BIN     := bin
CMDS    := rampart-signer rampart-vc rampartctl

# Debian packages the build and the tests need.
APT_PACKAGES := gcc make git softhsm2 opensc

.PHONY: all deps build test lint vet staticcheck fmt-check bench demo clean

all: build

# deps installs missing Debian packages (as root, or through sudo when it is
# there) and downloads Go modules. It changes nothing when all is present.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@command -v go >/dev/null || { echo "Go 1.26 is required at /usr/local/go (see README.md)"; exit 1; }
	go mod download

build: deps
	@mkdir -p $(BIN)
	CGO_ENABLED=1 go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

vet:
	go vet ./...

staticcheck:
	go tool staticcheck ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

lint: deps fmt-check vet staticcheck

# test runs every test, with the race detector, after the linters.
test: deps fmt-check vet staticcheck
	go test -race -count=1 -timeout 30m ./...

# --- Devnet: Prysm and geth on 127.0.0.1 (e2e/) -----------------------------
# e2e-tools builds Prysm's beacon-chain, validator and prysmctl and geth from
# the pinned modules in e2e/tools/ (Go module proxy only, go.sum-checked)
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

.PHONY: e2e-tools devnet-up devnet-down devnet-test

e2e-tools:
	@if [ -n "$$(for t in $(E2E_TOOLS); do [ -x "$(E2E_BIN)/$$t" ] || echo $$t; done)" ]; then \
		echo "building $(E2E_TOOLS) into $(E2E_BIN) (several minutes, once)"; \
		mkdir -p "$(E2E_BIN).tmp" && \
		(cd e2e/tools/prysm && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=1 GOPROXY=https://proxy.golang.org \
			go build -o "$(E2E_BIN).tmp/" github.com/OffchainLabs/prysm/v6/cmd/beacon-chain \
			github.com/OffchainLabs/prysm/v6/cmd/validator github.com/OffchainLabs/prysm/v6/cmd/prysmctl) && \
		(cd e2e/tools/geth && GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=1 GOPROXY=https://proxy.golang.org \
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

# bench runs the benchmarks once each; figures go into the closing notes.
bench: deps
	go test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

demo: build
	$(BIN)/rampartctl demo

clean:
	rm -rf $(BIN)

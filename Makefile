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

# bench runs the benchmarks once each; figures go into the closing notes.
bench: deps
	go test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

demo: build
	$(BIN)/rampartctl demo

clean:
	rm -rf $(BIN)

#!/bin/sh
# Builds the .deb packages from binaries already built (and checked) by
# `make build`: stages the generated files (gzipped man pages, changelog
# from the build and packaging/changelog,
# operations and validator-client guides, example configurations),
# computes the libc dependency with dpkg-shlibdeps and runs the pinned
# nfpm. Every input is fixed by the commit (VERSION and SOURCE_DATE_EPOCH
# come from git), so building twice gives identical bytes; `make deb-repro`
# checks that.
#
# Usage: deb.sh BINDIR OUTDIR
# Environment: VERSION, SOURCE_DATE_EPOCH, COMMIT, COMMIT_SUBJECT (set by the
# Makefile from git); GOARCH (default: go env);
# SIGNER_EXAMPLE_CONFIG (default appliance/signer.example.yaml);
# VC_EXAMPLE_CONFIG (default vc/vc.example.yaml);
# GATEWAY_EXAMPLE_CONFIG (default gateway/gateway.example.yaml).
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 BINDIR OUTDIR" >&2
	exit 2
fi
bindir=$1
outdir=$2
cd "$(dirname "$0")/.."

: "${VERSION:?VERSION must be set (packaging/version.sh prints it)}"
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set (git log -1 --format=%ct)}"
: "${COMMIT:?COMMIT must be set (git rev-parse --short=12 HEAD)}"
: "${COMMIT_SUBJECT:=Release $VERSION}"
GOARCH=${GOARCH:-$(go env GOARCH)}
example=${SIGNER_EXAMPLE_CONFIG:-appliance/signer.example.yaml}
vc_example=${VC_EXAMPLE_CONFIG:-vc/vc.example.yaml}
gateway_example=${GATEWAY_EXAMPLE_CONFIG:-gateway/gateway.example.yaml}
packages="rampart-signer rampart-vc rampart-gateway rampartctl"

for p in $packages; do
	[ -x "$bindir/$p" ] || { echo "deb.sh: $bindir/$p: missing; run make build first" >&2; exit 1; }
done
[ -f "$example" ] || { echo "deb.sh: $example: the signer's example configuration is missing" >&2; exit 1; }
[ -f "$vc_example" ] || { echo "deb.sh: $vc_example: the validator client's example configuration is missing" >&2; exit 1; }
[ -f "$gateway_example" ] || { echo "deb.sh: $gateway_example: the gateway's example configuration is missing" >&2; exit 1; }

# nfpm reads its inputs from fixed paths under dist/ (see packaging/nfpm).
stage=dist/stage
rm -rf "$stage" dist/bin
mkdir -p "$stage" dist/bin "$outdir"
for p in $packages; do
	cp "$bindir/$p" dist/bin/
done
cp "$example" "$stage/signer.example.yaml"
cp "$vc_example" "$stage/vc.example.yaml"
cp "$gateway_example" "$stage/gateway.example.yaml"

# gzip -n: no name or timestamp in the header, so the bytes depend on the
# content only.
gzip -9nc packaging/man/rampart-signer.8 >"$stage/rampart-signer.8.gz"
gzip -9nc packaging/man/rampart-vc.8 >"$stage/rampart-vc.8.gz"
gzip -9nc packaging/man/rampart-gateway.8 >"$stage/rampart-gateway.8.gz"
gzip -9nc packaging/man/rampartctl.1 >"$stage/rampartctl.1.gz"
gzip -9nc docs/operations.md >"$stage/operations.md.gz"
gzip -9nc docs/validator-client.md >"$stage/validator-client.md.gz"

# Each package's Debian changelog: the build's own entry (version,
# commit) on top of the maintained release notes in packaging/changelog,
# whose entries are renamed to the package. The maintained entries must
# parse and be older than this build, or lintian would complain (and
# rightly) about a changelog that goes backwards.
notes=packaging/changelog
[ -f "$notes" ] || { echo "deb.sh: $notes: the release notes are missing" >&2; exit 1; }
if ! last=$(dpkg-parsechangelog -l "$notes" -S Version 2>&1); then
	echo "deb.sh: $notes does not parse as a Debian changelog: $last" >&2
	exit 1
fi
if ! dpkg --compare-versions "$last" lt "$VERSION"; then
	echo "deb.sh: $notes: its newest entry ($last) is not older than this build ($VERSION); an entry names an earlier build (packaging/version.sh prints its version): add a release's entry after its tag" >&2
	exit 1
fi
date=$(LC_ALL=C date -u -d "@$SOURCE_DATE_EPOCH" '+%a, %d %b %Y %H:%M:%S +0000')
maintainer="Rampart maintainers <maintainers@rampart-signer.invalid>"
changelog() {
	{
		printf '%s (%s) unstable; urgency=medium\n\n  * Built from commit %s:\n' "$1" "$VERSION" "$COMMIT"
		printf '%s\n' "$COMMIT_SUBJECT" | fold -s -w 72 | sed 's/^/    /; s/ *$//'
		printf '\n -- %s  %s\n\n' "$maintainer" "$date"
		sed "s/^rampart (/$1 (/" "$notes"
	} | gzip -9n
}

# dpkg-shlibdeps wants a debian/control; give it a minimal one in a
# scratch directory.
shlibs() {
	scratch=$(mktemp -d)
	mkdir "$scratch/debian"
	printf 'Source: rampart\n\nPackage: %s\nArchitecture: any\n' "$1" >"$scratch/debian/control"
	bin=$(realpath "$bindir/$1")
	# Its warning that the binary is not yet in a package tree is expected.
	(cd "$scratch" && dpkg-shlibdeps -O "$bin" 2>"$scratch/err") | sed -n 's/^shlibs:Depends=//p'
	grep -v 'should already be installed' "$scratch/err" >&2 || true
	rm -rf "$scratch"
}

for p in $packages; do
	changelog "$p" >"$stage/changelog.gz"
	deps=$(shlibs "$p")
	[ -n "$deps" ] || { echo "deb.sh: dpkg-shlibdeps found no library dependency for $p" >&2; exit 1; }
	var=$(echo "$p" | tr 'a-z-' 'A-Z_')_SHLIBS
	rm -f "$outdir/${p}_${VERSION}_${GOARCH}.deb"
	env "$var=$deps" GOARCH="$GOARCH" VERSION="$VERSION" SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
		go tool nfpm package --config "packaging/nfpm/$p.yaml" --packager deb \
		--target "$outdir/${p}_${VERSION}_${GOARCH}.deb"
done

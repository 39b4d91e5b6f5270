#!/bin/sh
# Proves the packages are reproducible: copies the source tree (as it is,
# uncommitted changes included) to a scratch directory with another path,
# builds the binaries and .debs there with an empty Go build cache, and
# compares them byte for byte with those in DIST. Differing packages are
# named, with the first differing files when diffoscope is installed.
# Usage: repro.sh DIST
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIST" >&2
	exit 2
fi
: "${VERSION:?VERSION must be set}"
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH must be set}"
: "${COMMIT:?COMMIT must be set}"
src=$(cd "$(dirname "$0")/.." && pwd)
dist=$(cd "$1" && pwd)
scratch=$(mktemp -d /tmp/rampart-repro.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# The files git knows about, as they are on disk: what the build reads.
(cd "$src" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - --no-recursion) |
	(mkdir "$scratch/src" && cd "$scratch/src" && tar -xf -)
# The example configurations may come from outside the tree.
if [ -n "${SIGNER_EXAMPLE_CONFIG:-}" ]; then
	cp "$SIGNER_EXAMPLE_CONFIG" "$scratch/example.yaml"
	SIGNER_EXAMPLE_CONFIG=$scratch/example.yaml
	export SIGNER_EXAMPLE_CONFIG
fi
if [ -n "${VC_EXAMPLE_CONFIG:-}" ]; then
	cp "$VC_EXAMPLE_CONFIG" "$scratch/vc.example.yaml"
	VC_EXAMPLE_CONFIG=$scratch/vc.example.yaml
	export VC_EXAMPLE_CONFIG
fi
if [ -n "${GATEWAY_EXAMPLE_CONFIG:-}" ]; then
	cp "$GATEWAY_EXAMPLE_CONFIG" "$scratch/gateway.example.yaml"
	GATEWAY_EXAMPLE_CONFIG=$scratch/gateway.example.yaml
	export GATEWAY_EXAMPLE_CONFIG
fi

cd "$scratch/src"
# VERSION, SOURCE_DATE_EPOCH, COMMIT and COMMIT_SUBJECT come from the
# environment (the copy has no .git to derive them from).
GOCACHE="$scratch/gocache" make --no-print-directory build BIN="$scratch/bin"
packaging/deb.sh "$scratch/bin" "$scratch/dist"

status=0
for deb in "$scratch"/dist/*_"$VERSION"_*.deb; do
	name=$(basename "$deb")
	if cmp -s "$deb" "$dist/$name"; then
		echo "reproducible: $name"
	else
		echo "NOT reproducible: $name differs between $dist and a second build" >&2
		if command -v diffoscope >/dev/null; then
			diffoscope "$dist/$name" "$deb" | head -n 60 >&2 || true
		fi
		status=1
	fi
done
exit $status

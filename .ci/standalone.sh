#!/usr/bin/env bash
# Checks that the repository tests itself, with nothing beside the checkout
# (CI's clone has ../shared beside it, which would hide a test that still
# reads it):
#   1. no Go file names a path into ../shared;
#   2. a clone of the committed tree, in a fresh directory whose parent holds
#      nothing else, passes the tests of every package that reads test
#      vectors (those whose tests name the repository's testdata/). The race
#      detector is left to `make test`: this run checks where the tests read
#      from, and without it the slow ones (keystore KDFs) take seconds. The
#      Go build and module caches are shared, so this costs the compilation
#      of the repository's own packages and the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

# A path join or a string literal leading to ../shared.
if git grep -nE '"\.\."[[:space:]]*,[[:space:]]*"shared"|"[^"]*\.\./shared[/"]' -- '*.go'; then
	echo "standalone: the Go files above read ../shared; read the repository's testdata/ instead" >&2
	exit 1
fi

mapfile -t pkgs < <(git grep -lE '"testdata"|testdata/' -- '*_test.go' | xargs -n1 dirname | sort -u | sed 's|^|./|')
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "standalone: found no package whose tests read testdata/" >&2
	exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q --no-hardlinks . "$tmp/rampart"
cd "$tmp/rampart"
if [ -e ../shared ]; then
	echo "standalone: $tmp/shared exists" >&2
	exit 1
fi
echo "standalone: $(git rev-parse --short=12 HEAD) cloned alone into $tmp/rampart; testing ${pkgs[*]}"
go test -count=1 -timeout 20m "${pkgs[@]}"

#!/bin/sh
# Checks that release binaries are built as operators need them, and fails
# naming the binary and the missing property otherwise:
#   - position-independent executable (ELF type DYN with the PIE flag);
#   - full RELRO: a PT_GNU_RELRO segment and BIND_NOW;
#   - _FORTIFY_SOURCE in the C parts: the libc functions it guards are
#     imported as their checking __*_chk variants (a binary that imports
#     only unchecked ones was built without it);
#   - stripped, with no path of the build machine left in it (-trimpath);
#   - the version stamped: `BINARY --version` prints VERSION.
# Usage: check-hardening.sh VERSION BINARY...
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 VERSION BINARY..." >&2
	exit 2
fi
version=$1
shift
srcdir=$(cd "$(dirname "$0")/.." && pwd)
fail=0

bad() {
	echo "check-hardening: $1: $2" >&2
	fail=1
}

for bin in "$@"; do
	[ -f "$bin" ] || { bad "$bin" "no such file"; continue; }
	header=$(readelf -hW "$bin")
	dynamic=$(readelf -dW "$bin")
	segments=$(readelf -lW "$bin")
	echo "$header" | grep -q 'Type:[[:space:]]*DYN' || bad "$bin" "not a position-independent executable (ELF type is not DYN)"
	echo "$dynamic" | grep -q 'FLAGS_1.*PIE' || bad "$bin" "no PIE flag in the dynamic section (build with -buildmode=pie)"
	echo "$segments" | grep -q 'GNU_RELRO' || bad "$bin" "no GNU_RELRO segment (link with -z relro)"
	echo "$dynamic" | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || bad "$bin" "not bound at load time (link with -z now)"

	syms=$(readelf --dyn-syms -W "$bin" | awk '$7 == "UND" {sub(/@.*/, "", $8); print $8}')
	checked=$(printf '%s\n' "$syms" | grep -c '^__.*_chk$' || true)
	unchecked=$(printf '%s\n' "$syms" | grep -Ec '^(memcpy|memmove|memset|strcpy|stpcpy|strncpy|strcat|strncat|sprintf|snprintf|vsprintf|vsnprintf|printf|fprintf|vfprintf|fgets|read|pread|realpath|getcwd)$' || true)
	if [ "$checked" -eq 0 ] && [ "$unchecked" -gt 0 ]; then
		bad "$bin" "imports $unchecked fortifiable libc functions and no __*_chk variant (compile the C parts with -O2 -D_FORTIFY_SOURCE=2)"
	fi

	readelf -SW "$bin" | grep -q '\.symtab' && bad "$bin" "not stripped (link with -s -w)"
	grep -qF "$srcdir" "$bin" && bad "$bin" "contains the build path $srcdir (build with -trimpath)"
	case $("$bin" --version 2>&1) in
	*" $version "*) ;;
	*) bad "$bin" "--version does not print $version (stamp it with -X .../buildinfo.version)" ;;
	esac
done
exit $fail

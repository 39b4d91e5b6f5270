#!/bin/bash
# Prints the Debian mirror this machine's apt uses for SUITE's main component,
# so that the image is built from the same (possibly local, pinned or
# snapshot) source as the build machine, and the tree names no host.
#
# Usage: mirror.sh [SUITE]     (default: bookworm)
# Reads, in apt's order, $APT_DIR/sources.list (one-line format) and then
# $APT_DIR/sources.list.d/*.list (one-line) and *.sources (deb822), and
# prints the URI of the first enabled "deb" source that carries SUITE with
# the main component. APT_DIR defaults to /etc/apt. Exits 1 with a message
# naming the files read when there is none: set MIRROR= then.
set -euo pipefail

suite=${1:-bookworm}
apt_dir=${APT_DIR:-/etc/apt}

# one_line FILE: "deb [options] URI SUITE COMPONENT..." lines.
one_line() {
	awk -v suite="$suite" '
		{ sub(/#.*/, "") }
		$1 != "deb" { next }
		{
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			uri = $i; s = $(i + 1)
			if (s != suite) next
			for (j = i + 2; j <= NF; j++) if ($j == "main") { print uri; exit }
		}' "$1"
}

# deb822 FILE: stanzas of "Field: value" lines (continuation lines start
# with a space), separated by blank lines.
deb822() {
	awk -v suite="$suite" '
		function has(list, word,   n, a, k) {
			n = split(list, a, /[ \t]+/)
			for (k = 1; k <= n; k++) if (a[k] == word) return 1
			return 0
		}
		function flush(   n, a, k) {
			if (has(f["types"], "deb") && has(f["suites"], suite) && has(f["components"], "main") && tolower(f["enabled"]) != "no") {
				n = split(f["uris"], a, /[ \t]+/)
				for (k = 1; k <= n; k++) if (a[k] != "") { print a[k]; found = 1; exit }
			}
			delete f; last = ""
		}
		/^#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { if (last != "") f[last] = f[last] " " $0; next }
		{
			key = tolower(substr($0, 1, index($0, ":") - 1))
			val = substr($0, index($0, ":") + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", val)
			f[key] = val; last = key
		}
		END { if (!found) flush() }' "$1"
}

files=()
[ -f "$apt_dir/sources.list" ] && files+=("$apt_dir/sources.list")
shopt -s nullglob
for f in "$apt_dir"/sources.list.d/*.list "$apt_dir"/sources.list.d/*.sources; do
	files+=("$f")
done
shopt -u nullglob
# apt reads sources.list.d in file name order, whatever the format.
if [ ${#files[@]} -gt 1 ]; then
	mapfile -t rest < <(printf '%s\n' "${files[@]}" | grep -v "^$apt_dir/sources.list\$" | sort)
	if [ -f "$apt_dir/sources.list" ]; then files=("$apt_dir/sources.list" "${rest[@]}"); else files=("${rest[@]}"); fi
fi

for f in "${files[@]}"; do
	case "$f" in
	*.sources) uri=$(deb822 "$f") ;;
	*) uri=$(one_line "$f") ;;
	esac
	case "$uri" in
	http://* | https://* | file:/*)
		echo "${uri%/}"
		exit 0
		;;
	esac
done
echo "mirror.sh: no enabled apt source for '$suite' with the main component in ${files[*]:-$apt_dir/sources.list and $apt_dir/sources.list.d} (http, https or file URIs); set MIRROR= to a Debian mirror" >&2
exit 1

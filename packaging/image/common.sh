# Shared start of the image scripts (build.sh, test.sh, lifecycle.sh), which
# source it: all take DIST as their only argument, need root (debootstrap,
# chroot and file ownership) and VERSION, and print timed steps.
# shellcheck shell=bash

if [ $# -ne 1 ]; then
	echo "usage: $0 DIST" >&2
	exit 2
fi
if [ "$(id -u)" != 0 ]; then
	echo "$(basename "$0"): must run as root (debootstrap, chroot, file ownership)" >&2
	exit 1
fi
: "${VERSION:?VERSION must be set (packaging/version.sh prints it)}"
# shellcheck disable=SC2034 # used by the scripts that source this file
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034
dist=$(cd "$1" && pwd)

step() { printf '\n== %s (%ds)\n' "$*" "$SECONDS"; }

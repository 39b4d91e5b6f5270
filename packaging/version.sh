#!/bin/sh
# Prints the version stamped into the binaries and the .deb packages, derived
# from git so that the same commit always gives the same version (and so the
# same bytes):
#   on a tag vX.Y.Z            X.Y.Z
#   after tag vX.Y.Z           X.Y.Z+gitYYYYMMDDhhmmss.HASH   (sorts after X.Y.Z)
#   before any tag             0~gitYYYYMMDDhhmmss.HASH        (sorts before 0.1)
# with the commit time in UTC and ".dirty" appended when the tree has
# uncommitted changes. A '-' in a tag becomes '~' (v1.0.0-rc1 -> 1.0.0~rc1,
# which Debian sorts before 1.0.0).
set -eu

if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo "version.sh: not in a git checkout; set VERSION explicitly" >&2
	exit 1
fi

stamp=$(TZ=UTC git log -1 --date=format-local:%Y%m%d%H%M%S --format=%cd)
hash=$(git rev-parse --short=12 HEAD)
if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
	version=${tag#v}
elif tag=$(git describe --tags --abbrev=0 --match 'v[0-9]*' 2>/dev/null); then
	version="${tag#v}+git${stamp}.${hash}"
else
	version="0~git${stamp}.${hash}"
fi
version=$(printf '%s' "$version" | tr '-' '~')

if ! git diff --quiet HEAD -- 2>/dev/null; then
	version="${version}.dirty"
fi
printf '%s\n' "$version"

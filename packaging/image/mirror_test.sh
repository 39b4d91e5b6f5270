#!/bin/bash
# Tests mirror.sh against apt configurations written here (no host's apt
# sources are read): each case is a set of files and the URI mirror.sh must
# print, or "FAIL" when it must refuse. Run by `make scripts-check`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0 passed=0

# check NAME WANT [SUITE]: runs mirror.sh on $tmp/NAME.
check() {
	local name=$1 want=$2 suite=${3:-bookworm} got
	if got=$(APT_DIR="$tmp/$name" "$here/mirror.sh" "$suite" 2>"$tmp/$name.err"); then :; else got=FAIL; fi
	if [ "$got" = "$want" ]; then
		passed=$((passed + 1))
	else
		echo "mirror.sh: $name: got '$got', want '$want' ($(cat "$tmp/$name.err"))" >&2
		failed=$((failed + 1))
	fi
}
# put NAME FILE: writes standard input to $tmp/NAME/FILE.
put() { mkdir -p "$(dirname "$tmp/$1/$2")" && cat >"$tmp/$1/$2"; }

put deb822 sources.list.d/debian.sources <<'EOF'
Types: deb
# a comment between fields
URIs: http://mirror.example/m/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/m/debian-security
Suites: bookworm-security
Components: main
EOF
check deb822 http://mirror.example/m/debian
check deb822 http://security.example/m/debian-security bookworm-security

put one-line sources.list <<'EOF'
# deb http://commented.example/m/debian bookworm main
deb-src http://src.example/m/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://one.example/m/debian/ bookworm main contrib
EOF
check one-line http://one.example/m/debian

put order sources.list <<'EOF'
deb http://contrib-only.example/m/debian bookworm contrib
EOF
put order sources.list.d/b.sources <<'EOF'
Types: deb
URIs: http://second.example/m/debian
Suites: bookworm
Components: main
EOF
put order sources.list.d/a.list <<'EOF'
deb http://first.example/m/debian bookworm main
EOF
check order http://first.example/m/debian

put disabled sources.list.d/x.sources <<'EOF'
Types: deb
URIs: http://disabled.example/m/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src deb
URIs: file:/srv/debian
  http://unused.example/m/debian
Suites: bookworm
Components: non-free main
EOF
check disabled file:/srv/debian

put other-suite sources.list.d/trixie.sources <<'EOF'
Types: deb
URIs: http://trixie.example/m/debian
Suites: trixie
Components: main
EOF
check other-suite FAIL
check none FAIL
put unsupported sources.list <<'EOF'
deb cdrom:[Debian 12]/ bookworm main
EOF
check unsupported FAIL

echo "mirror.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

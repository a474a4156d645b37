#!/bin/bash
# The Debian package, built from the build tree by cpack: its control data (name, version, Depends
# from dpkg-shlibdeps, conffiles, maintainer scripts), its contents (binary, site under /etc/outpost,
# example sites, man page, the systemd unit when the source tree has one), then the package unpacked
# into a throwaway root and run from there: `outpost version` and `outpost check` on the shipped site
# and on every example site. lintian too when it is installed.
#   deb_test.sh BUILD_DIR SOURCE_DIR VERSION
set -euo pipefail
build=$1 src=$2 version=$3
for tool in cpack dpkg-deb dpkg-shlibdeps file; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (tools/install-deps.sh test installs dpkg-dev)"; exit 77; }
done
work=$(mktemp -d /tmp/outpost-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

start=$SECONDS
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/out" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack"; }
debs=("$work"/out/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one .deb, got: ${debs[*]}"
deb=${debs[0]}
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "outpost_${version}_${arch}.deb" ] || fail "file name $(basename "$deb")"
echo "built $(basename "$deb") ($(stat -c %s "$deb") bytes) in $((SECONDS - start)) s"

# Control data.
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = outpost ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version), project $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
[ -n "$(field Maintainer)" ] && [ -n "$(field Description)" ] || fail "Maintainer or Description empty"
depends=$(field Depends)
echo "Depends: $depends"
# Package names alone, one a line (alternatives split too).
names=$(tr ',|' '\n\n' <<<"$depends" | sed -E 's/\(.*\)//; s/[[:space:]]//g' | grep -v '^$')
names_has() { grep -Fxq "$1" <<<"$names"; }
# What the binary links (ldd) must be covered: libc6, libstdc++6, libmosquitto1, libsqlite3-0.
for pkg in libc6 libstdc++6 libmosquitto1 libsqlite3-0 adduser; do
  names_has "$pkg" || fail "Depends lacks $pkg"
done
# Every shared library the binary links directly (NEEDED) is in a package that Depends names.
unpacked=$work/root
dpkg-deb -x "$deb" "$unpacked"
owner_of() {  # dpkg knows a library by one of its names: as linked, resolved, with or without /usr (merged /usr)
  local real; real=$(readlink -f "$1")
  for p in "$1" "$real" "${1#/usr}" "/usr$1" "${real#/usr}" "/usr$real"; do
    dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1 && return
  done
}
while read -r lib; do
  owner=$(owner_of "$lib")
  [ -n "$owner" ] || fail "no package owns $lib"
  names_has "${owner%%:*}" || fail "$lib comes from $owner, which Depends does not name"
done < <(readelf -d "$unpacked/usr/bin/outpost" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r needed; do
  ldd "$unpacked/usr/bin/outpost" | awk -v n="$needed" '$1 == n && $3 ~ /^\// { print $3 }'; done)
dpkg-deb --ctrl-tarfile "$deb" | tar -t >"$work/control.list"
for f in ./conffiles ./postinst ./prerm ./postrm; do grep -qx "$f" "$work/control.list" || fail "control lacks $f"; done
mkdir "$work/control" && dpkg-deb -e "$deb" "$work/control"
printf '/etc/outpost/%s\n' site.json mapping.json bms.dbc | diff - "$work/control/conffiles" || fail "conffiles"
for s in postinst prerm postrm; do
  [ -x "$work/control/$s" ] || fail "$s not executable"
  sh -n "$work/control/$s" || fail "$s: syntax"
done

# Contents.
dpkg-deb -c "$deb" | awk '{ print $NF }' >"$work/contents"
for f in ./usr/bin/outpost ./usr/share/man/man1/outpost.1.gz ./etc/outpost/site.json ./etc/outpost/mapping.json \
         ./etc/outpost/bms.dbc ./usr/share/doc/outpost/README.md ./usr/share/doc/outpost/examples/demo/site.json \
         ./usr/share/doc/outpost/examples/modbus-example/site.json ./usr/share/doc/outpost/examples/dbc-example/site.json; do
  grep -qx "$f" "$work/contents" || fail "package lacks $f"
done
if [ -f "$src/configs/systemd/outpost.service" ]; then
  # /lib and /usr/lib are one directory on Debian 12 (merged /usr); systemd reads both.
  unit=$(grep -Ex '\./(usr/)?lib/systemd/system/outpost\.service' "$work/contents") \
    || fail "the source has a unit but the package lacks lib/systemd/system/outpost.service"
  echo "unit: ${unit#.}"
  cmp "$src/configs/systemd/outpost.service" "$unpacked/${unit#./}" || fail "the packaged unit differs from the source"
fi
if [ -f "$src/configs/systemd/outpost.sysusers" ]; then
  grep -Eqx '\./(usr/)?lib/sysusers\.d/outpost\.conf' "$work/contents" || fail "the package lacks the sysusers entry"
fi
if grep -E '^\./usr/local/|^\./usr/etc/|/build/' "$work/contents"; then fail "paths outside the package layout"; fi
readelf -S "$unpacked/usr/bin/outpost" | grep -Eq '\.(symtab|debug_info)' && fail "binary not stripped"
[ "$(stat -c %a "$unpacked/usr/bin/outpost")" = 755 ] || fail "binary mode $(stat -c %a "$unpacked/usr/bin/outpost")"

# Run from the unpacked tree.
bin=$unpacked/usr/bin/outpost
[ "$("$bin" version)" = "outpost $version" ] || fail "outpost version: $("$bin" version)"
# The shipped site, moved with its files (its outbox path is absolute and not touched by check).
"$bin" check --config "$unpacked/etc/outpost/site.json" >"$work/check.out" 2>&1 || { cat "$work/check.out"; fail "check on /etc/outpost/site.json"; }
for site in demo modbus-example dbc-example; do
  "$bin" check --config "$unpacked/usr/share/doc/outpost/examples/$site/site.json" >"$work/check.out" 2>&1 \
    || { cat "$work/check.out"; fail "check on examples/$site"; }
done
# check must be able to fail from there too: a broken site is refused with exit code 3.
sed 's/"socketcan"/"sockedcan"/' "$unpacked/etc/outpost/site.json" >"$unpacked/etc/outpost/broken.json"
rc=0; "$bin" check --config "$unpacked/etc/outpost/broken.json" >"$work/check.out" 2>&1 || rc=$?
[ $rc -eq 3 ] || { cat "$work/check.out"; fail "check on a broken site exited $rc, expected 3"; }

# The man page: renders without warnings and documents every command of --help.
man=$unpacked/usr/share/man/man1/outpost.1.gz
if command -v man >/dev/null; then
  LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -E UTF-8 -l "$man" >"$work/man.txt" 2>"$work/man.err" || fail "man -l"
  [ ! -s "$work/man.err" ] || { cat "$work/man.err"; fail "man page warnings"; }
  "$bin" --help | awk '/^  [a-z]/ { print $1 }' | sort -u | while read -r cmd; do
    grep -Eq "^ +$cmd( |$)" "$work/man.txt" || fail "man page lacks command $cmd"
  done
  grep -q "EXIT STATUS" "$work/man.txt" || fail "man page lacks EXIT STATUS"
else
  zcat "$man" | grep -q '^\.TH OUTPOST 1' || fail "man page header"
fi

if command -v lintian >/dev/null; then
  # Tags that need a project decision (a licence for the copyright file, a changelog) are reported,
  # not failed on; every other error fails.
  lintian --tag-display-limit 0 "$deb" >"$work/lintian.txt" 2>&1 || true
  cat "$work/lintian.txt"
  grep -v -E ': (no-copyright-file|no-changelog)( |$)' \
    "$work/lintian.txt" | grep -E '^E: ' && fail "lintian errors"
fi
echo "package test passed in $((SECONDS - start)) s"

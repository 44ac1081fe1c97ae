#!/usr/bin/env bash
# The Debian package, end to end: build it from a release build directory with CPack, check its Depends,
# install it with dpkg, start the installed binary with the installed config as the systemd unit does
# (as the `herald` user, from /), publish and subscribe with curl, stop it, purge the package.
#   tests/package/package_test.sh BUILD_DIR
# It changes the machine (it installs and purges a package), so it needs root, as CI has; without root it
# fails rather than skipping: a test that quietly does not run proves nothing.
set -euo pipefail
build="$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)"

fail() { echo "package test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "it installs a .deb: run it as root (CI does)"
if dpkg-query -W -f='${Status}' herald 2>/dev/null | grep -q 'install ok installed'; then
  fail "a herald package is installed on this machine already; the test would replace and purge it"
fi

prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")"
[ "$prefix" = /usr ] || fail "$build is configured with CMAKE_INSTALL_PREFIX=$prefix: reconfigure it with -DCMAKE_INSTALL_PREFIX=/usr (the default of a fresh build directory)"

work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  [ -n "${sub:-}" ] && kill "$sub" 2>/dev/null || true
  dpkg --purge herald >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Waits until `pattern` appears in `file` (what a process writes there); the deadline only turns a hang
# into a failure.
wait_for_line() {
  local file="$1" pattern="$2" deadline=$((SECONDS + $3))
  until grep -q -E "$pattern" "$file"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "no '$pattern' in $file within $3 s: $(cat "$file")"
    sleep 0.05
  done
}

# 1. Build it (the binary is already built; CPack installs into its own staging directory).
(cd "$build" && cpack -G DEB -B "$work/staging" -D CPACK_OUTPUT_FILE_PREFIX="$work/out" >"$work/cpack.log" 2>&1) || fail "cpack: $(cat "$work/cpack.log")"
deb="$(ls "$work"/out/herald_*_*.deb)"
[[ "$(basename "$deb")" =~ ^herald_[0-9.]+_[a-z0-9]+\.deb$ ]] || fail "unexpected package name $deb"
depends="$(dpkg-deb -f "$deb" Depends)"
for lib in libsodium libhiredis libsqlite3 libssl libsystemd0 libqrencode passwd; do
  [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
[[ "$depends" != *-dev* ]] || fail "Depends names a -dev package: $depends"
contents="$(dpkg-deb -c "$deb")"
grep -q ' ./etc/herald/herald.toml$' <<<"$contents" || fail "no /etc/herald/herald.toml in the package"
conffiles="$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
grep -qx /etc/herald/herald.toml <<<"$conffiles" || fail "the config is not a conffile: $conffiles"

# 2. Install it.
dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$work/dpkg.log")"
[ -x /usr/bin/herald ] || fail "no /usr/bin/herald"
[ -f /usr/share/herald/web/index.html ] || fail "no web root in /usr/share/herald/web"
unit=/usr/lib/systemd/system/herald.service
[ -f "$unit" ] || fail "no unit at $unit"
getent passwd herald >/dev/null || fail "no herald system user"
[ "$(stat -c %U:%a /var/lib/herald)" = "herald:750" ] || fail "/var/lib/herald is $(stat -c %U:%a /var/lib/herald)"
[ "$(stat -c %G:%a /etc/herald/herald.toml)" = "herald:640" ] || fail "the config is $(stat -c %G:%a /etc/herald/herald.toml)"
grep -q '^Type=notify$' "$unit" && grep -q '^ExecReload=/bin/kill -HUP $MAINPID$' "$unit" || fail "the unit: $(cat "$unit")"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$work/verify.log")"
fi

# 3. Run it as the unit does: its user, its command line, from /. A publish key filled in, as an operator
# would; a free port instead of 8080 (the only change to the unit's command line).
sed -i 's/^publish_key = ""/publish_key = "package-test-key"/' /etc/herald/herald.toml
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
[ "$exec_start" = "/usr/bin/herald serve --config /etc/herald/herald.toml" ] || fail "ExecStart is $exec_start"
# The installed CLI finds the installed config without --config; the database lands in /var/lib/herald.
(cd / && setpriv --reuid herald --regid herald --init-groups /usr/bin/herald users add alice --password pw-alice) \
  >/dev/null || fail "herald users add with the installed config"
[ -f /var/lib/herald/herald.db ] || fail "the login database is not in /var/lib/herald"
(cd / && exec setpriv --reuid herald --regid herald --init-groups $exec_start --listen 127.0.0.1:0 >"$work/herald.log" 2>&1) &
pid=$!
wait_for_line "$work/herald.log" 'listening on http://127\.0\.0\.1:[0-9]+' 10
port="$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/herald.log" | head -n 1)"
url="http://127.0.0.1:$port"
grep -q 'web root /usr/share/herald/web' "$work/herald.log" || fail "web root: $(cat "$work/herald.log")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] || fail "/readyz"
curl -sf "$url/index.html" | grep -qi '<html' || fail "the installed pages are not served"

# 4. Publish and subscribe with curl: an SSE stream, then a message published while it listens.
curl -sN -H "Accept: text/event-stream" "$url/sub/news" >"$work/sse.out" &
sub=$!
wait_for_line "$work/sse.out" '^: herald' 5
code="$(curl -s -o "$work/pub.out" -w '%{http_code}' -X POST -H 'Authorization: Bearer package-test-key' \
  --data 'hello from the package' "$url/pub/news")"
[ "$code" = 201 ] || fail "publish answered $code: $(cat "$work/pub.out")"
wait_for_line "$work/sse.out" '^data: hello from the package$' 5
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "$url/pub/news")" != 201 ] || fail "published without the key"

# 5. Stop it (SIGTERM, as systemctl stop does) and purge the package.
kill -TERM "$pid"
wait "$pid" || fail "herald exited with $? after SIGTERM: $(cat "$work/herald.log")"
pid=""
dpkg --purge herald >"$work/purge.log" 2>&1 || fail "dpkg --purge: $(cat "$work/purge.log")"
for gone in /usr/bin/herald /etc/herald /var/lib/herald /usr/share/herald "$unit"; do
  [ ! -e "$gone" ] || fail "$gone is still there after the purge"
done
echo "package test: ok ($(basename "$deb"), Depends: $depends)"

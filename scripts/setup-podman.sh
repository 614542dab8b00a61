#!/usr/bin/env bash
# Makes a Debian/Ubuntu host able to run axo's real-podman tests, idempotently, as root:
#   1. installs podman, runc and busybox-static when missing;
#   2. builds the local test image from the host's static busybox (no registry is reachable);
#   3. runs a container, and fixes only the failures it sees, in a drop-in file of our own
#      (the user's containers.conf is never edited):
#        - crun cannot run containers on a cgroup-v1/hybrid host  -> runtime = "runc"
#        - root's default nofile limit exceeds the host hard limit -> default_ulimits = []
#   4. proves it with `echo ok` in a container.
# A second run finds everything in place and changes nothing.
#
# Options: --debian also builds localhost/axo-test:debian (mmdebstrap, bookworm minbase
# with bash, git, curl, ca-certificates), for tests that need a real package manager.
set -euo pipefail

IMAGE="${AXO_TEST_IMAGE:-localhost/axo-test:busybox}"
DEBIAN_IMAGE="${AXO_TEST_DEBIAN_IMAGE:-localhost/axo-test:debian}"
DROPIN_DIR=/etc/containers/containers.conf.d
DROPIN="$DROPIN_DIR/50-axo.conf"
want_debian=0
for arg in "$@"; do
  case "$arg" in
    --debian) want_debian=1 ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-podman: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

changes=0
say() { printf 'setup-podman: %s\n' "$*"; }
did() { changes=$((changes + 1)); say "changed: $*"; }
die() { printf 'setup-podman: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and writes $DROPIN)"
command -v dpkg-query >/dev/null || die "this script knows Debian/Ubuntu only; install podman, runc and a static busybox by hand"

# --- 1. packages -------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_updated=0
apt_install() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  did "installed ${missing[*]}"
}
# Naming runc in the same transaction stops apt from choosing crun for podman's
# "crun | runc" dependency on a host where crun cannot work.
apt_install podman runc busybox-static catatonit
[ $want_debian -eq 1 ] && apt_install mmdebstrap

# --- 2. the test image ---------------------------------------------------------------
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox is missing although busybox-static is installed"
busybox_sha=$(sha256sum "$busybox" | cut -d' ' -f1)
image_sha=$(podman image inspect --format '{{index .Labels "org.axo-test.busybox-sha256"}}' "$IMAGE" 2>/dev/null || true)
if [ "$image_sha" != "$busybox_sha" ]; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev,home}
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar --numeric-owner -C "$root" -cf "$root.tar" .
  podman import --quiet \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL org.axo-test.busybox-sha256=$busybox_sha" \
    "$root.tar" "$IMAGE" >/dev/null
  rm -rf "$root" "$root.tar"
  trap - EXIT
  did "built $IMAGE from the host's static busybox"
fi

# --- 3. make podman able to run it -----------------------------------------------------
set_dropin_key() { # section key value
  local section=$1 key=$2 value=$3 tmp
  mkdir -p "$DROPIN_DIR"
  tmp=$(mktemp)
  {
    echo "# Written by axo's scripts/setup-podman.sh: only what this host needed to run containers."
    for s in containers engine; do
      echo "[$s]"
      if [ -f "$DROPIN" ]; then
        # keep what an earlier run wrote in this section, except the key being set
        awk -v s="[$s]" -v k="$key" '
          /^\[/ { in_s = ($0 == s); next }
          in_s && NF && $0 !~ /^#/ { split($0, kv, "="); gsub(/ /, "", kv[1]); if (kv[1] != k) print }
        ' "$DROPIN"
      fi
      [ "$s" = "$section" ] && echo "$key = $value"
    done
  } >"$tmp"
  install -m 0644 "$tmp" "$DROPIN"
  rm -f "$tmp"
  did "set $key = $value in $DROPIN"
}

probe() { podman run --rm --init "$IMAGE" true 2>&1; }
for attempt in 1 2 3; do
  if err=$(probe); then break; fi
  case "$err" in
    *"error setting rlimit"*)
      set_dropin_key containers default_ulimits '[]' ;;
    *crun*)
      command -v runc >/dev/null || die "crun cannot run containers here and runc is missing"
      set_dropin_key engine runtime '"runc"' ;;
    *)
      die "podman cannot run a container, for a reason this script does not know how to fix:
$err" ;;
  esac
  [ $attempt -eq 3 ] && die "podman still cannot run a container after fixing what it reported:
$err"
done

# --- 4. the Debian image (optional) -------------------------------------------------------
if [ $want_debian -eq 1 ] && ! podman image exists "$DEBIAN_IMAGE"; then
  tarball=$(mktemp --suffix=.tar)
  mmdebstrap --quiet --variant=minbase --include=bash,git,curl,ca-certificates \
    bookworm "$tarball" >/dev/null
  podman import --quiet --change 'CMD ["/bin/bash"]' "$tarball" "$DEBIAN_IMAGE" >/dev/null
  rm -f "$tarball"
  did "built $DEBIAN_IMAGE with mmdebstrap"
fi

# --- 5. proof --------------------------------------------------------------------------
out=$(podman run --rm --init "$IMAGE" echo ok 2>&1) || die "final check failed: $out"
[ "$out" = ok ] || die "final check printed '$out', expected 'ok'"
say "podman $(podman version --format '{{.Client.Version}}') runs containers with runtime" \
  "$(podman info --format '{{.Host.OCIRuntime.Name}}'); echo ok in $IMAGE printed: $out"
if [ $changes -eq 0 ]; then say "nothing to change"; else say "$changes change(s) made"; fi

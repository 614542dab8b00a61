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
# --rootless USER also makes rootless podman work for USER (created when missing): uidmap
# and slirp4netns, subuid/subgid ranges, /dev/net/tun usable (0666, as Debian's udev sets
# it), /run/user/UID as its runtime dir, native overlay storage, root's test images copied
# into its storage (again when root's change), then containers run as USER are proven.
set -euo pipefail

IMAGE="${AXO_TEST_IMAGE:-localhost/axo-test:busybox}"
DEBIAN_IMAGE="${AXO_TEST_DEBIAN_IMAGE:-localhost/axo-test:debian}"
DROPIN_DIR=/etc/containers/containers.conf.d
DROPIN="$DROPIN_DIR/50-axo.conf"
want_debian=0
rootless_user=
while [ $# -gt 0 ]; do
  case "$1" in
    --debian) want_debian=1 ;;
    --rootless=*) rootless_user=${1#--rootless=} ;;
    --rootless)
      [ $# -ge 2 ] || { echo "setup-podman: --rootless needs a user name" >&2; exit 2; }
      rootless_user=$2
      shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-podman: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$rootless_user" ] && ! [[ "$rootless_user" =~ ^[a-z_][a-z0-9_-]{0,30}$ ]]; then
  echo "setup-podman: '$rootless_user' is not a user name this script will create or use" >&2
  exit 2
fi
[ "$rootless_user" != root ] || { echo "setup-podman: --rootless root makes no sense" >&2; exit 2; }

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
# Rootless podman 4.3 needs newuidmap/newgidmap (uidmap) and slirp4netns (its only rootless
# network; pasta came in 4.4). Not fuse-overlayfs: the kernel's overlay works in a user
# namespace since 5.13. Not dbus-user-session: without systemd podman uses cgroupfs.
[ -n "$rootless_user" ] && apt_install uidmap slirp4netns

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
# Merges "key = value" into a drop-in of ours: the current file on stdin, the new one on stdout.
dropin_merge() { # section key value
  local section=$1 key=$2 value=$3 current s
  current=$(cat)
  echo "# Written by axo's scripts/setup-podman.sh: only what this host needed to run containers."
  for s in containers engine; do
    echo "[$s]"
    # keep what an earlier run wrote in this section, except the key being set
    printf '%s\n' "$current" | awk -v s="[$s]" -v k="$key" '
      /^\[/ { in_s = ($0 == s); next }
      in_s && NF && $0 !~ /^#/ { split($0, kv, "="); gsub(/ /, "", kv[1]); if (kv[1] != k) print }
    '
    if [ "$s" = "$section" ]; then echo "$key = $value"; fi
  done
}
set_dropin_key() { # section key value
  local tmp
  mkdir -p "$DROPIN_DIR"
  tmp=$(mktemp)
  { if [ -f "$DROPIN" ]; then cat "$DROPIN"; fi; } | dropin_merge "$@" >"$tmp"
  install -m 0644 "$tmp" "$DROPIN"
  rm -f "$tmp"
  did "set $2 = $3 in $DROPIN"
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

# --- 6. rootless podman for one user (--rootless USER) -----------------------------------
if [ -n "$rootless_user" ]; then
  user=$rootless_user
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --create-home --user-group --shell /bin/bash "$user"
    did "created user $user"
  fi
  uid=$(id -u "$user")
  gid=$(id -g "$user")
  home=$(getent passwd "$user" | cut -d: -f6)
  [ "$uid" -ge 1000 ] || die "$user has uid $uid: use a normal user (uid >= 1000) for rootless podman"
  [ -d "$home" ] || die "$user's home $home does not exist (rootless podman keeps its storage there)"
  rundir=/run/user/$uid
  # Everything done as the user: never follow the user's own files as root. Root's podman/XDG
  # settings are not passed on, and XDG_RUNTIME_DIR is the directory made below.
  as_user() {
    (cd / && runuser -u "$user" -- env -u XDG_CONFIG_HOME -u XDG_DATA_HOME -u CONTAINERS_CONF \
      -u CONTAINERS_STORAGE_CONF XDG_RUNTIME_DIR="$rundir" "$@")
  }
  user_write() { # file: stdin becomes the user's file (written by the user, replaced atomically)
    # shellcheck disable=SC2016 # $1 is expanded by the user's sh
    as_user sh -c 'mkdir -p "$(dirname "$1")" && cat >"$1.axo-tmp" && mv -f "$1.axo-tmp" "$1"' sh "$1"
  }

  # 6a. subordinate ids: 65536 of each, after every range already given to anyone.
  subids_added=0
  for kind in uid gid; do
    db=/etc/sub$kind
    [ -e "$db" ] || install -m 0644 /dev/null "$db"
    if ! awk -F: -v u="$user" -v n="$uid" '$1 == u || $1 == n { found = 1 } END { exit !found }' "$db"; then
      start=$(awk -F: 'BEGIN { m = 100000 } NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$db")
      usermod "--add-sub${kind}s" "$start-$((start + 65535))" "$user"
      did "gave $user sub${kind}s $start-$((start + 65535)) in $db"
      subids_added=1
    fi
  done

  # 6b. /dev/net/tun: slirp4netns opens it, as the user. Debian's udev rule makes it 0666;
  # this host has no udev and its devtmpfs leaves 0600 ("open(/dev/net/tun): Permission
  # denied"). 0666 restores the distribution's mode and grants nothing more: creating an
  # interface with it needs CAP_NET_ADMIN. devtmpfs forgets it at boot: run this again then.
  [ -c /dev/net/tun ] || die "/dev/net/tun is missing: rootless networking (slirp4netns) needs the tun device"
  if ! as_user sh -c ': <>/dev/net/tun' 2>/dev/null; then
    chmod 0666 /dev/net/tun
    did "made /dev/net/tun usable by every user (0666, as Debian's udev rule does)"
  fi

  # 6c. runtime dir: no systemd/logind here, so nothing makes /run/user/UID. Made 0700 for
  # the user, podman uses it whether or not XDG_RUNTIME_DIR is exported (and the storage
  # runroot is pinned to it below); without it podman would scatter state over /tmp.
  if [ "$(stat -c '%u:%g %a' "$rundir" 2>/dev/null)" != "$uid:$gid 700" ]; then
    install -d -m 0755 /run/user
    install -d -m 0700 -o "$uid" -g "$gid" "$rundir"
    chown "$uid:$gid" "$rundir"
    chmod 0700 "$rundir"
    did "made $rundir (0700, $user) its runtime dir"
  fi

  # 6d. storage: without storage.conf containers/storage picks vfs rootless (full copy per
  # layer and per container); the kernel's overlay works rootless here.
  storage_conf=$home/.config/containers/storage.conf
  want_storage="# Written by axo's scripts/setup-podman.sh: native overlay, state under $rundir.
[storage]
driver = \"overlay\"
runroot = \"$rundir/containers\""
  current=$(as_user cat "$storage_conf" 2>/dev/null || true)
  if [ "$current" != "$want_storage" ]; then
    if [ -n "$current" ] && [ "${current#\# Written by axo}" = "$current" ]; then
      say "keeping $storage_conf, which is not ours (rootless podman may use vfs storage)"
    else
      printf '%s\n' "$want_storage" | user_write "$storage_conf"
      did "wrote $storage_conf (overlay, runroot $rundir/containers)"
    fi
  fi
  # a user namespace podman made before the ranges existed maps one id only: remake it
  [ $subids_added -eq 1 ] && { as_user podman system migrate >/dev/null 2>&1 || true; }
  # A machine whose processes all died while /run survived (a killed session, a restored
  # snapshot) leaves podman's state naming containers whose conmon is gone: every command
  # then fails with "invalid internal status". Podman's own remedy, which keeps containers
  # and images, is 'system migrate'.
  if ! err=$(as_user podman info --format '{{.Store.GraphDriverName}}' 2>&1) \
    && [ "${err#*invalid internal status}" != "$err" ]; then
    as_user podman system migrate >/dev/null 2>&1 || true
    did "reset $user's podman pause process ('podman system migrate': its recorded containers had no processes)"
  fi
  if ! err=$(as_user podman info --format '{{.Store.GraphDriverName}}' 2>&1); then
    case "$err" in
      *"database configuration mismatch"*)
        die "$user's podman storage was made with other settings; as $user run 'podman system reset' (it deletes $user's containers and images), then run this again:
$err" ;;
      *overlay*)
        die "native overlay does not work rootless on this kernel (needs 5.13+); install fuse-overlayfs and set mount_program = \"/usr/bin/fuse-overlayfs\" under [storage.options.overlay] in $storage_conf:
$err" ;;
      *) die "rootless podman does not start for $user:
$err" ;;
    esac
  fi

  # 6e. the test images, copied from root's storage when missing or not the same image.
  for img in "$IMAGE" "$DEBIAN_IMAGE"; do
    root_id=$(podman image inspect --format '{{.Id}}' "$img" 2>/dev/null) || continue
    user_id=$(as_user podman image inspect --format '{{.Id}}' "$img" 2>/dev/null || true)
    [ "$user_id" = "$root_id" ] && continue
    podman save "$img" | as_user podman load --quiet >/dev/null 2>&1 \
      || die "could not copy $img into $user's storage"
    # the image it replaced, unless it still has another name
    if [ -n "$user_id" ] && [ "$(as_user podman image inspect --format '{{len .RepoTags}}' "$user_id" 2>/dev/null)" = 0 ]; then
      as_user podman rmi "$user_id" >/dev/null 2>&1 || true
    fi
    did "copied $img into $user's storage"
  done

  # 6f. fix only what fails, in the user's own drop-in (root's drop-in already applies to it).
  user_dropin=$home/.config/containers/containers.conf.d/50-axo.conf
  set_user_dropin_key() { # section key value
    { as_user cat "$user_dropin" 2>/dev/null || true; } | dropin_merge "$@" | user_write "$user_dropin"
    did "set $2 = $3 in $user_dropin"
  }
  for attempt in 1 2 3; do
    if err=$(as_user podman run --rm --network none "$IMAGE" true 2>&1); then break; fi
    case "$err" in
      *"error setting rlimit"*) set_user_dropin_key containers default_ulimits '[]' ;;
      *crun*) set_user_dropin_key engine runtime '"runc"' ;;
      *) die "rootless podman cannot run a container as $user, for a reason this script does not know how to fix:
$err" ;;
    esac
    [ $attempt -eq 3 ] && die "rootless podman still cannot run a container as $user:
$err"
  done

  # 6g. proof: no network, the default network (slirp4netns), and limits (which rootless
  # podman on cgroup v1 drops with a warning and exit 0: axo has to find out itself).
  errf=$(mktemp)
  for net in none default; do
    netopt=(--network "$net")
    [ "$net" = default ] && netopt=()
    out=$(as_user podman run --rm "${netopt[@]}" "$IMAGE" echo ok 2>"$errf") \
      || die "rootless check ($net network) failed: $(cat "$errf")"
    [ "$out" = ok ] || die "rootless check ($net network) printed '$out', expected 'ok'"
  done
  rc=0
  as_user podman run --rm --memory 512m --pids-limit 100 "$IMAGE" true 2>"$errf" || rc=$?
  limits_said=$(grep -v 'is not a shared mount' "$errf" | paste -sd ' ' - || true)
  rm -f "$errf"
  say "rootless podman runs containers as $user (uid $uid; $(as_user podman info --format \
'{{.Store.GraphDriverName}} storage, runtime {{.Host.OCIRuntime.Name}}, cgroups {{.Host.CgroupsVersion}}')):" \
    "echo ok printed ok with --network none and with the default network"
  say "rootless --memory 512m --pids-limit 100: exit $rc${limits_said:+, podman said: $limits_said}"
  say "as $user: export XDG_RUNTIME_DIR=$rundir (e.g. runuser -u $user -- env XDG_RUNTIME_DIR=$rundir podman ps)"
fi

if [ $changes -eq 0 ]; then say "nothing to change"; else say "$changes change(s) made"; fi

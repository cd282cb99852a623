#!/usr/bin/env bash
# node-init.sh: PID 1 of a lab node until it execs systemd (or tini + sshd in scale mode).
#
# Started by lab.sh inside fresh mount/UTS/IPC/PID/cgroup namespaces and the node's
# network namespace. It builds the node's private root (copy-on-write overlays over the
# host's system dirs, private /run /tmp /dev, read-only /proc/sys and /sys, the node's own
# cgroup hierarchies), configures the node on first boot (host keys, root password,
# authorized key, machine-id) and on every boot (hostname, /etc/hosts, masked units),
# then replaces itself with the node's init.
#
# Environment (set by lab.sh): LAB_NODE, LAB_NODE_DIR, LAB_DIR, LAB_MODE (systemd|scale),
# LAB_NAME.
set -euo pipefail

readonly OVERLAY_DIRS=(etc usr var opt root home srv)
# Top-level dirs the product writes that the host does not have: private per node (bind mounts
# of dirs in the node dir; the host gets an empty mount point, created once).
readonly PRIVATE_DIRS=(backup)

log() {
  printf '[%s] [node-init:%s] %s\n' "$(date -u +%H:%M:%S)" "${LAB_NODE:-?}" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

#######################################
# Copy-on-write overlay over each host system dir; upper/work dirs live in the node dir.
#######################################
init::overlays() {
  local d
  for d in "${OVERLAY_DIRS[@]}"; do
    mkdir -p "$LAB_NODE_DIR/upper/$d" "$LAB_NODE_DIR/work/$d"
    mount -t overlay "lab-$d" \
      -o "lowerdir=/$d,upperdir=$LAB_NODE_DIR/upper/$d,workdir=$LAB_NODE_DIR/work/$d" "/$d" \
      || die "overlay over /$d failed (upper $LAB_NODE_DIR/upper/$d)"
  done
  for d in "${PRIVATE_DIRS[@]}"; do
    mkdir -p "$LAB_NODE_DIR/private/$d" "/$d"
    mount --bind "$LAB_NODE_DIR/private/$d" "/$d" || die "private /$d failed"
  done
}

#######################################
# A private /dev: device nodes, console bound to a log file, own devpts, /dev/shm.
#######################################
init::dev() {
  local spec name major minor
  mount -t tmpfs -o mode=0755,size=1m,nosuid lab-dev /dev
  for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$spec"
    mknod -m 0666 "/dev/$name" c "$major" "$minor"
  done
  : >"$LAB_NODE_DIR/console.log"
  : >/dev/console
  mount --bind "$LAB_NODE_DIR/console.log" /dev/console
  mkdir -p /dev/pts /dev/shm /dev/mqueue
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 lab-devpts /dev/pts
  ln -s pts/ptmx /dev/ptmx
  mount -t tmpfs -o mode=1777,nosuid,nodev lab-shm /dev/shm
  ln -s /proc/self/fd /dev/fd
  ln -s /proc/self/fd/0 /dev/stdin
  ln -s /proc/self/fd/1 /dev/stdout
  ln -s /proc/self/fd/2 /dev/stderr
}

#######################################
# Read-only /proc/sys and /sys; the node's own view of every cgroup v1 hierarchy.
# Globals: CG_MOUNTS (array of "mountpoint options" captured before /sys is replaced)
#######################################
init::proc_sys() {
  local entry mp fstype opts ctrls o
  mount --bind /proc/sys /proc/sys
  mount -o remount,bind,ro /proc/sys
  if [[ -e /proc/sysrq-trigger ]]; then
    mount --bind /proc/sysrq-trigger /proc/sysrq-trigger
    mount -o remount,bind,ro /proc/sysrq-trigger
  fi
  mount -t sysfs -o ro,nosuid,nodev,noexec lab-sys /sys
  # A tmpfs holds the v1 hierarchies (hybrid host); a pure cgroup2 host mounts
  # /sys/fs/cgroup itself (untested here: this machine is hybrid).
  if [[ " ${CG_MOUNTS[*]} " != *" /sys/fs/cgroup cgroup2 "* ]]; then
    mount -t tmpfs -o mode=0755,nosuid,nodev,noexec lab-cgroup /sys/fs/cgroup
    for entry in "${CG_MOUNTS[@]}"; do
      mkdir -p "${entry%% *}"
    done
    mount -o remount,ro /sys/fs/cgroup
  fi
  for entry in "${CG_MOUNTS[@]}"; do
    read -r mp fstype opts <<<"$entry"
    if [[ "$fstype" == cgroup2 ]]; then
      # systemd tracks processes here (hybrid mode): cgroup v2 tells it when a cgroup
      # empties, which the v1 release agent cannot do inside a container.
      mount -t cgroup2 -o nosuid,nodev,noexec lab-cg2 "$mp" || die "cannot mount cgroup2 on $mp"
      continue
    fi
    ctrls=""
    for o in ${opts//,/ }; do
      case "$o" in
        rw | ro | xattr | noprefix | clone_children | release_agent=* | cpuset_v2_mode) ;;
        *) ctrls+="${ctrls:+,}$o" ;;
      esac
    done
    # Mounted inside the node's cgroup namespace: its root is the node's own cgroup.
    mount -t cgroup -o "nosuid,nodev,noexec,$ctrls" "lab-cg" "$mp" || die "cannot mount cgroup $ctrls on $mp"
  done
}

#######################################
# First boot only: fresh host keys, machine-id, root password, the lab's client key.
#######################################
init::first_boot() {
  local marker="$LAB_NODE_DIR/firstboot.done"
  [[ -e "$marker" ]] && return 0
  log "first boot: host keys, machine-id, root login"
  rm -f /etc/ssh/ssh_host_*
  if [[ "$LAB_MODE" == scale ]]; then
    # Scale nodes skip RSA: 20 RSA keys at once cost ~20 s of CPU on 2 cores.
    ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key
    ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key
  else
    ssh-keygen -A >&2
  fi
  od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >/etc/machine-id
  echo >>/etc/machine-id
  printf 'root:%s\n' "$(cat "$LAB_DIR/password")" | chpasswd
  install -d -m 0700 /root/.ssh
  install -m 0600 "$LAB_DIR/id_ed25519.pub" /root/.ssh/authorized_keys
  # A node's root gets a stock shell profile, not the host's (bash reads ~/.bashrc for every
  # ssh command: the host's pyenv setup would add ~0.1 s to each one and its PATH).
  cp /etc/skel/.bashrc /etc/skel/.profile /root/
  install -d -m 0755 /etc/ssh/sshd_config.d
  cat >/etc/ssh/sshd_config.d/00-lab.conf <<'EOF'
# drupgrade test lab: root logs in by key and by password.
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication yes
UseDNS no
EOF
  : >"$marker"
}

#######################################
# Every boot: hostname, /etc/hosts, units that cannot or must not run in a node.
#######################################
init::every_boot() {
  local unit
  hostname "$LAB_NODE"
  echo "$LAB_NODE" >/etc/hostname
  cat "$LAB_DIR/hosts" >/etc/hosts
  echo "# UNCONFIGURED FSTAB (lab node)" >/etc/fstab
  mkdir -p /run/sshd /etc/systemd/system/multi-user.target.wants /etc/tmpfiles.d
  # Debian's tmp.conf has "D /tmp", which would wipe the node's /tmp at every boot.
  echo 'd /tmp 1777 root root -' >/etc/tmpfiles.d/tmp.conf
  [[ "$LAB_MODE" == systemd ]] || return 0
  for unit in \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-udev-settle.service systemd-sysctl.service \
    systemd-binfmt.service proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
    getty@tty1.service console-getty.service serial-getty@.service getty-static.service \
    systemd-remount-fs.service systemd-fsck-root.service systemd-timesyncd.service \
    systemd-modules-load.service systemd-pstore.service systemd-hwdb-update.service \
    ldconfig.service systemd-journald-audit.socket sys-kernel-config.mount \
    sys-kernel-debug.mount sys-kernel-tracing.mount sys-fs-fuse-connections.mount \
    apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer man-db.timer \
    fstrim.timer e2scrub_all.timer e2scrub_reap.service \
    mariadb.service mariadb@.service mysql.service mysqld.service mariadb.socket \
    mariadb@.socket mariadb-extra.socket mariadb-extra@.socket \
    etcd.service etcd2.service postgresql.service postgresql@.service; do
    ln -sfn /dev/null "/etc/systemd/system/$unit"
  done
  ln -sfn /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/ssh.service
}

main() {
  local entry
  [[ $$ == 1 ]] || die "must run as PID 1 of a new PID namespace (started by lab.sh)"
  : "${LAB_NODE:?}" "${LAB_NODE_DIR:?}" "${LAB_DIR:?}" "${LAB_MODE:?}"
  log "booting ($LAB_MODE mode)"
  CG_MOUNTS=()
  while read -r entry; do
    CG_MOUNTS+=("$entry")
  done < <(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break;
                  if ($(i + 1) ~ /^cgroup2?$/) print $5, $(i + 1), $(i + 3) }' /proc/self/mountinfo)
  # The copied host mount table holds other labs' netns handles (/run/netns/*): drop
  # them, or their "ip netns del" could never free those namespaces.
  for entry in /run/netns /dev /sys; do
    umount -R -l "$entry" 2>/dev/null || true
  done
  init::overlays
  mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m lab-run /run
  init::dev
  init::proc_sys
  init::first_boot
  init::every_boot
  # Last: LAB_DIR may itself be under /tmp.
  mkdir -p "$LAB_NODE_DIR/tmp"
  mount --bind "$LAB_NODE_DIR/tmp" /tmp
  chmod 1777 /tmp
  cd /
  if [[ "$LAB_MODE" == systemd ]]; then
    log "exec systemd"
    exec env -i container=drlab "container_host=$LAB_NAME" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      /lib/systemd/systemd --system </dev/console >/dev/console 2>&1
  fi
  log "exec tini + sshd"
  exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /usr/bin/tini -s -- /usr/sbin/sshd -D -e
}

main "$@"

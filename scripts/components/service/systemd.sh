# shellcheck shell=bash
# Component service/systemd (common services: service management): start, stop or remove systemd
# units, and for start wait until the service is ready.
# Parameters:
#   action        start | stop | remove
#   units         the units, in order (words)
#   present_only  true: act only on the units installed on this node (default false)
#   no_block      true: start without waiting for the start job (members that need each other)
#   unit_dir      where remove deletes the unit files (default /etc/systemd/system)
#   match         stop, remove: the product's unit names, globs (words, e.g. "<p>-*.service <p>.target"):
#                 after the units (in their order), every loaded unit matching is stopped too
#                 (also one whose unit file is gone), and remove deletes every unit file matching
#                 in unit_dir: units of a version this list never named do not outlive it
#   ready_url     start: an HTTP endpoint that must answer (base/http), with ready_expect (KEY=VALUE
#                 words) and only on nodes with one of ready_roles (words; default every node)
#   ready_command start: a command (words) that succeeds once the service is ready
#   ready_seconds how long start waits for ready_url / ready_command (default 120)
# shellcheck source=scripts/components/base/http.sh
source "$COMPONENTS_DIR/base/http.sh"
# shellcheck source=scripts/components/base/wait.sh
source "$COMPONENTS_DIR/base/wait.sh"
# shellcheck source=scripts/components/base/units.sh
source "$COMPONENTS_DIR/base/units.sh"

systemd::units() {
  local all=() u dir
  component::words units all
  dir=$(component::param unit_dir /etc/systemd/system)
  for u in "${all[@]}"; do
    if component::flag present_only && [[ ! -e $dir/$u ]]; then continue; fi
    printf '%s\n' "$u"
  done
}
systemd::active() { systemctl is-active --quiet "$1"; }
#######################################
# The units matching the match globs (base/units) that the units list does not name.
#######################################
systemd::matching() {
  local globs=() named=() u
  component::words match globs ""
  ((${#globs[@]})) || return 0
  component::words units named ""
  while IFS= read -r u; do
    if [[ " ${named[*]} " != *" $u "* ]]; then printf '%s\n' "$u"; fi
  done < <(units::matching "$(component::param unit_dir /etc/systemd/system)" "${globs[@]}")
}
systemd::running() { units::running "$1"; }

# This node takes part in the ready check (ready_roles empty: every node).
systemd::ready_here() {
  local roles=() r
  component::words ready_roles roles ""
  ((${#roles[@]})) || return 0
  for r in "${roles[@]}"; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}

systemd::ready() {
  local fields=()
  if [[ -n $(component::param ready_url "") ]] && systemd::ready_here; then
    component::words ready_expect fields ""
    http::ok "$(component::param ready_url)" "${fields[@]}" || return 1
  fi
  [[ -z $(component::param ready_command "") ]] || component::command ready_command > /dev/null 2>&1
}

pre_check() {
  case $(component::param action) in
    start | stop | remove) ;;
    *) common::die 2 "action 参数应为 start、stop 或 remove" "the parameter action must be start, stop or remove" ;;
  esac
}

execute() {
  local units=() running=() u dir seconds fields=()
  mapfile -t units < <(systemd::units)
  case $(component::param action) in
    stop)
      mapfile -t -O "${#units[@]}" units < <(systemd::matching)
      for u in "${units[@]}"; do
        systemd::running "$u" || continue
        systemctl stop "$u"
        ! systemd::active "$u" || die "$u 仍在运行" "$u is still running"
      done
      ;;
    remove)
      dir=$(component::param unit_dir /etc/systemd/system)
      mapfile -t -O "${#units[@]}" units < <(systemd::matching)
      mapfile -t running < <(for u in "${units[@]}"; do ! systemd::running "$u" || echo "$u"; done)
      ((${#running[@]} == 0)) || systemctl stop "${running[@]}" || true
      mapfile -t units < <(for u in "${units[@]}"; do [[ ! -e $dir/$u ]] || echo "$u"; done)
      ((${#units[@]})) || return 0
      systemctl stop "${units[@]}" || true
      systemctl disable "${units[@]}" > /dev/null 2>&1 || true
      for u in "${units[@]}"; do rm -f "${dir:?}/$u"; done
      systemctl daemon-reload
      systemctl reset-failed "${units[@]}" > /dev/null 2>&1 || true
      ;;
    start)
      ((${#units[@]})) || return 0
      if component::flag no_block; then
        systemctl start --no-block "${units[@]}"
      else
        for u in "${units[@]}"; do systemctl start "$u"; done
      fi
      seconds=$(component::param ready_seconds 120)
      if [[ -n $(component::param ready_url "") ]] && systemd::ready_here; then
        component::words ready_expect fields ""
        http::wait "$seconds" "$(component::param ready_url)" "${fields[@]}"
      fi
      if [[ -n $(component::param ready_command "") ]]; then
        wait::until "$seconds" "服务就绪" "the service to be ready" component::command ready_command
      fi
      ;;
  esac
}

post_check() {
  local units=() u dir
  mapfile -t units < <(systemd::units)
  case $(component::param action) in
    stop)
      mapfile -t -O "${#units[@]}" units < <(systemd::matching)
      for u in "${units[@]}"; do ! systemd::running "$u" || return 1; done
      ;;
    remove)
      dir=$(component::param unit_dir /etc/systemd/system)
      mapfile -t -O "${#units[@]}" units < <(systemd::matching)
      for u in "${units[@]}"; do [[ ! -e $dir/$u ]] && ! systemd::running "$u" || return 1; done
      ;;
    start)
      for u in "${units[@]}"; do systemd::active "$u" || return 1; done
      systemd::ready
      ;;
  esac
}

get_progress() {
  local u
  while IFS= read -r u; do printf '%s %s\n' "$u" "$(systemctl is-active "$u" 2>&1 || true)"; done < <(systemd::units)
}

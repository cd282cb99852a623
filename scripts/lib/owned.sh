# shellcheck shell=bash
# Nothing is removed that drupgrade did not create (SPEC S5). A directory the tool creates and may
# remove later holds the marker file .drupgrade-owned (what created it, when), written when the
# tool creates it; owned::remove removes a directory only where that marker is. Needs bash and
# coreutils only: sourced by the node libraries, and sent by the controller in front of its own
# node scripts (tool install, transfers, prune), which read the refusal line below.
# A refusal prints "drupgrade-not-owned: PATH" on stderr and returns 3.

OWNED_MARKER=.drupgrade-owned
# What an unpacked node tool dir holds (the node package, plus the contexts the controller writes).
OWNED_TOOL_ENTRIES=" bin checks lib steps VERSION context.env rollback.env "

#######################################
# True if PATH is an absolute, normalised path other than / (no . or .. segment, no //, no
# trailing /): the only kind of path the removal helpers accept.
#######################################
owned::sane_path() {
  local p=$1
  [[ $p == /?* && $p != */ && $p != *//* && /$p/ != */./* && /$p/ != */../* ]]
}

#######################################
# Create DIR (and its parents) if needed and write its marker.
# Arguments: dir, lines to record (e.g. created_by=…); the time of creation is added.
#######################################
owned::mark() {
  local dir=$1
  shift
  owned::sane_path "$dir" || { printf 'drupgrade-not-owned: %s\n' "$dir" >&2; return 3; }
  mkdir -p -- "$dir"
  { printf '%s\n' "$@"; printf 'created=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"; } > "$dir/$OWNED_MARKER.tmp"
  mv -f -- "$dir/$OWNED_MARKER.tmp" "$dir/$OWNED_MARKER"
}

#######################################
# True if DIR is a real directory (not a link) holding a regular marker file (not a link).
#######################################
owned::is_ours() {
  [[ -d $1 && ! -L $1 && -f $1/$OWNED_MARKER && ! -L $1/$OWNED_MARKER ]]
}

#######################################
# Remove DIR if the tool created it (its marker is there); nothing to do if it does not exist.
# Returns 3 (and says so on stderr) for anything else: the directory is left as it is.
#######################################
owned::remove() {
  local dir=${1:?}
  owned::sane_path "$dir" || { printf 'drupgrade-not-owned: %s\n' "$dir" >&2; return 3; }
  [[ -e $dir || -L $dir ]] || return 0
  if ! owned::is_ours "$dir"; then
    printf 'drupgrade-not-owned: %s\n' "$dir" >&2
    return 3
  fi
  rm -rf -- "$dir"
}

#######################################
# A node tool dir installed by a drupgrade without markers (before 2026-12) is adopted: it gets
# its marker when it holds bin/drstep and a VERSION, and nothing but what the node package
# unpacks and the controller writes there. Anything else stays without a marker (so
# owned::remove refuses it). Arguments: dir.
#######################################
owned::adopt_tool_dir() {
  local dir=$1 entry version
  owned::sane_path "$dir" && [[ -d $dir && ! -L $dir ]] || return 0
  owned::is_ours "$dir" && return 0
  [[ -f $dir/bin/drstep && ! -L $dir/bin/drstep && -f $dir/VERSION && ! -L $dir/VERSION ]] || return 0
  version=$(head -c 64 "$dir/VERSION" | head -n 1)
  [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.+~-][A-Za-z0-9.+~-]*)?$ ]] || return 0
  for entry in "$dir"/* "$dir"/.[!.]* "$dir"/..?*; do
    [[ -e $entry || -L $entry ]] || continue
    [[ $OWNED_TOOL_ENTRIES == *" ${entry##*/} "* ]] || return 0
  done
  owned::mark "$dir" "created_by=drupgrade node tool $version" "adopted=installed before drupgrade wrote markers"
}

# shellcheck shell=bash
# Library of the base layer (files): the backup directory of the run, durable writes, archives and
# tree hashes. No component interface of its own; the components and the step files use it.
# Context: DR_BACKUP_ROOT, DR_BACKUP_ID (context.env).

# The backup dir of this hop on this node.
files::backup_dir() { printf '%s/%s' "${DR_BACKUP_ROOT:-/backup}" "${DR_BACKUP_ID:?no backup id in the context}"; }
# The backup dir, private (0700), with drupgrade's marker: retention removes only marked backups.
files::make_backup_dir() {
  local dir
  dir=$(files::backup_dir)
  mkdir -p "$dir"
  chmod 0700 "$dir"
  owned::is_ours "$dir" || owned::mark "$dir" "created_by=drupgrade backup $DR_BACKUP_ID"
}
#######################################
# A directory tree's content hash: paths, modes, link targets and file contents.
# Arguments: directory. Outputs: sha256 hex.
#######################################
files::tree_hash() {
  local dir=$1
  (
    cd "$dir" || exit 1
    find . -printf '%y %m %P -> %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum
  ) | sha256sum | cut -d' ' -f1
}

#######################################
# A directory tree's metadata hash: paths, types, modes, sizes, mtimes and link targets, without
# reading the files (constant time in their size): what a fast rollback compares before it
# switches back to a kept release (the full content hash is checked by the rollback's verify).
# Arguments: directory. Outputs: sha256 hex.
#######################################
files::tree_meta_hash() {
  # Whole seconds: tar keeps no more, so an extracted copy has the same metadata hash.
  (cd "$1" && find . -printf '%y %m %s %T@ %P -> %l\n' | sed -E 's/^([^ ]+ [^ ]+ [^ ]+ [0-9]+)\.[0-9]* /\1 /' |
    LC_ALL=C sort) | sha256sum | cut -d' ' -f1
}

#######################################
# gzip-compatible compressor: pigz (parallel) when the node has it.
#######################################
files::gzip() { if command -v pigz >/dev/null 2>&1; then pigz -c; else gzip -c; fi; }

#######################################
# Make files (or directories: their entries) durable: fsync each. coreutils before 8.24 (CentOS 7)
# takes no file arguments and syncs everything instead, which covers them as well.
# Arguments: paths...
#######################################
files::fsync() { sync -- "$@" 2>/dev/null || sync; }

#######################################
# Make the whole filesystem that holds PATH durable (syncfs): a backup on its own mount, e.g.
# /backup, is flushed there, not only where the node state lives.
# Arguments: path
#######################################
files::sync_fs() { sync -f -- "$1" 2>/dev/null || sync; }

#######################################
# Archive paths (absolute, stored relative to /) into FILE.tar.gz, fsynced before it gets its name;
# fails on any error.
# Arguments: file, paths...
#######################################
files::archive() {
  local file=$1
  shift
  local rel=() p
  for p in "$@"; do [[ -e $p || -L $p ]] && rel+=("${p#/}"); done
  ((${#rel[@]})) || die "没有可备份的内容: $*" "nothing to archive: $*"
  tar -C / --numeric-owner -cf - "${rel[@]}" | files::gzip > "$file.part"
  files::fsync "$file.part"
  mv "$file.part" "$file"
}

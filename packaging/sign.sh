#!/usr/bin/env bash
# Summary: sign product packages for [packages] public_key: writes PKG.sig beside each PKG.
# Usage: packaging/sign.sh KEY PKG...
#   KEY  the vendor's private signing key, PEM, Ed25519 or RSA (at least 2048 bits); which one is
#        read from the key. Keep it off the control nodes: operators get only the public key,
#        `openssl pkey -in KEY -pubout -out vendor.pub`, and set [packages] public_key to it.
#   Ed25519: openssl pkeyutl -sign -rawin -inkey KEY -in PKG -out PKG.sig
#            (the raw 64-byte signature over the file's bytes; needs OpenSSL 3 where you sign)
#   RSA:     openssl dgst -sha256 -sign KEY -out PKG.sig PKG  (PKCS#1 v1.5 over SHA-256)
#   Every signature is verified with the key's public half before it is kept; a failure leaves no
#   PKG.sig. Verify one by hand (what the controller does in Python, with `cryptography`):
#     Ed25519: openssl pkeyutl -verify -pubin -inkey vendor.pub -rawin -in PKG -sigfile PKG.sig
#     RSA:     openssl dgst -sha256 -verify vendor.pub -signature PKG.sig PKG
#   Exit: 0 all signed, 1 a package could not be signed, 2 usage or an unusable key.
set -euo pipefail

err() { printf '[%s] [sign] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
usage() { sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

#######################################
# The kind of a private key: ed25519 or rsa (exits 2 on any other key or a key that does not parse).
# Arguments: key file
#######################################
sign::kind() {
  local text bits
  text=$(openssl pkey -in "$1" -noout -text_pub 2>/dev/null) || { err "$1: not a PEM private key openssl can read"; exit 2; }
  if [[ ${text%%$'\n'*} == *ED25519* ]]; then
    echo ed25519
  elif [[ $text == *$'\nModulus:'* ]]; then
    bits=$(sed -n '1s/.*(\([0-9]*\) bit.*/\1/p' <<<"$text")
    ((bits >= 2048)) || { err "$1: an RSA key of ${bits:-?} bits; at least 2048 are needed"; exit 2; }
    echo rsa
  else
    err "$1: ${text%%$'\n'*} is neither Ed25519 nor RSA"
    exit 2
  fi
}

#######################################
# Sign one package and verify the signature with the public half of the key.
# Arguments: key file, kind, public key file, package
#######################################
sign::one() {
  local key=$1 kind=$2 pub=$3 pkg=$4
  if [[ $kind == ed25519 ]]; then
    openssl pkeyutl -sign -rawin -inkey "$key" -in "$pkg" -out "$pkg.sig.tmp" &&
      openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$pkg" -sigfile "$pkg.sig.tmp" >/dev/null
  else
    openssl dgst -sha256 -sign "$key" -out "$pkg.sig.tmp" "$pkg" &&
      openssl dgst -sha256 -verify "$pub" -signature "$pkg.sig.tmp" "$pkg" >/dev/null
  fi
}

main() {
  (($# >= 2)) || usage
  local key=$1 kind pkg rc=0
  shift
  [[ -r $key ]] || { err "$key: no such key file"; exit 2; }
  kind=$(sign::kind "$key")
  PUB=$(mktemp)
  trap 'rm -f "$PUB"' EXIT
  openssl pkey -in "$key" -pubout -out "$PUB"
  for pkg in "$@"; do
    if [[ -f $pkg ]] && sign::one "$key" "$kind" "$PUB" "$pkg"; then
      mv -f "$pkg.sig.tmp" "$pkg.sig"
      err "$pkg.sig ($kind)"
    else
      rm -f "$pkg.sig.tmp"
      err "cannot sign $pkg"
      rc=1
    fi
  done
  return "$rc"
}

main "$@"

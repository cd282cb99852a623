#!/usr/bin/env bats
# packaging/sign.sh: PKG.sig in the formats [packages] public_key verifies (Ed25519 raw, RSA
# PKCS#1 v1.5 over SHA-256), checked here with the openssl commands docs/upgrade.md gives; and
# the drp build signs with the TEST-ONLY key.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  SIGN=$TOP/packaging/sign.sh
  W=$BATS_TEST_TMPDIR
  printf 'package bytes\n' >"$W/a.tar.gz"
  printf 'other package\n' >"$W/b.tar.gz"
}

key() {  # key NAME GENPKEY-OPTIONS...: $W/NAME.key and $W/NAME.pub
  local name=$1
  shift
  openssl genpkey "$@" -out "$W/$name.key" 2>/dev/null
  openssl pkey -in "$W/$name.key" -pubout -out "$W/$name.pub"
}

@test "Ed25519: one raw 64-byte signature per package, verified by openssl pkeyutl -rawin" {
  key ed -algorithm ed25519
  run "$SIGN" "$W/ed.key" "$W/a.tar.gz" "$W/b.tar.gz"
  [ "$status" -eq 0 ]
  [ "$(stat -c %s "$W/a.tar.gz.sig")" -eq 64 ]
  openssl pkeyutl -verify -pubin -inkey "$W/ed.pub" -rawin -in "$W/a.tar.gz" -sigfile "$W/a.tar.gz.sig"
  openssl pkeyutl -verify -pubin -inkey "$W/ed.pub" -rawin -in "$W/b.tar.gz" -sigfile "$W/b.tar.gz.sig"
  run openssl pkeyutl -verify -pubin -inkey "$W/ed.pub" -rawin -in "$W/a.tar.gz" -sigfile "$W/b.tar.gz.sig"
  [ "$status" -ne 0 ]
}

@test "RSA: openssl dgst -sha256 verifies the signature" {
  key rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
  run "$SIGN" "$W/rsa.key" "$W/a.tar.gz"
  [ "$status" -eq 0 ]
  openssl dgst -sha256 -verify "$W/rsa.pub" -signature "$W/a.tar.gz.sig" "$W/a.tar.gz"
}

@test "keys that are not Ed25519 or RSA >= 2048 are exit 2, and nothing is written" {
  key ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
  key small -algorithm RSA -pkeyopt rsa_keygen_bits:1024
  run "$SIGN" "$W/ec.key" "$W/a.tar.gz"
  [ "$status" -eq 2 ] && [[ $output == *"neither Ed25519 nor RSA"* ]]
  run "$SIGN" "$W/small.key" "$W/a.tar.gz"
  [ "$status" -eq 2 ] && [[ $output == *"1024 bits"* ]]
  run "$SIGN" "$W/ec.pub" "$W/a.tar.gz"  # a public key is not a signing key
  [ "$status" -eq 2 ]
  run "$SIGN" "$W/a.tar.gz"
  [ "$status" -eq 2 ] && [[ $output == *"Usage: packaging/sign.sh KEY PKG..."* ]]
  [ ! -e "$W/a.tar.gz.sig" ]
}

@test "a package that cannot be signed is exit 1 and named, the others are signed" {
  key ed -algorithm ed25519
  run "$SIGN" "$W/ed.key" "$W/missing.tar.gz" "$W/a.tar.gz"
  [ "$status" -eq 1 ]
  [[ $output == *"cannot sign $W/missing.tar.gz"* ]]
  [ -f "$W/a.tar.gz.sig" ] && [ ! -e "$W/missing.tar.gz.sig" ] && [ ! -e "$W/missing.tar.gz.sig.tmp" ]
}

@test "the drp build signs with DRP_SIGN_KEY, deterministically; the test public key verifies it" {
  local keys=$TOP/packaging/drp/test-keys
  DRP_SIGN_KEY=$keys/drp-TEST-ONLY-ed25519.key "$TOP/packaging/drp/build.sh" "$W/p1" 2.2.0 2>/dev/null
  DRP_SIGN_KEY=$keys/drp-TEST-ONLY-ed25519.key "$TOP/packaging/drp/build.sh" "$W/p2" 2.2.0 2>/dev/null
  cmp "$W/p1/drp-2.2.0.tar.gz.sig" "$W/p2/drp-2.2.0.tar.gz.sig"
  openssl pkeyutl -verify -pubin -inkey "$keys/drp-TEST-ONLY-ed25519.pub" -rawin \
    -in "$W/p1/drp-2.2.0.tar.gz" -sigfile "$W/p1/drp-2.2.0.tar.gz.sig"
  "$TOP/packaging/drp/build.sh" "$W/p1" 2.2.0 2>/dev/null  # no key: no (stale) signature
  [ ! -e "$W/p1/drp-2.2.0.tar.gz.sig" ]
}

@test "dist.sh lists each tarball in SHA256SUMS and, with DRUPGRADE_SIGN_KEY, signs the list" {
  local keys=$TOP/packaging/drp/test-keys
  "$TOP/packaging/dist.sh" node 9.9.9 "$W/b" >/dev/null
  (cd "$W/b/dist" && sha256sum --strict -c SHA256SUMS)
  [ ! -e "$W/b/dist/SHA256SUMS.sig" ] && [ ! -e "$W/b/dist/drupgrade-node-9.9.9.tar.gz.sha256" ]
  DRUPGRADE_SIGN_KEY=$keys/drp-TEST-ONLY-ed25519.key "$TOP/packaging/dist.sh" node 9.9.8 "$W/b" >/dev/null 2>&1
  [ "$(grep -c 'drupgrade-node-9.9.[89].tar.gz$' "$W/b/dist/SHA256SUMS")" -eq 2 ]
  (cd "$W/b/dist" && sha256sum --strict -c SHA256SUMS)
  openssl pkeyutl -verify -pubin -inkey "$keys/drp-TEST-ONLY-ed25519.pub" -rawin \
    -in "$W/b/dist/SHA256SUMS" -sigfile "$W/b/dist/SHA256SUMS.sig"
  echo tampered >>"$W/b/dist/drupgrade-node-9.9.8.tar.gz"
  run bash -c "cd '$W/b/dist' && sha256sum --strict -c SHA256SUMS"
  [ "$status" -ne 0 ] && [[ $output == *"drupgrade-node-9.9.8.tar.gz: FAILED"* ]]
}

"""Detached signatures: the public key of [packages] public_key, and checking a file's PKG.sig with it.

The two formats are what openssl writes (packaging/sign.sh does it for a vendor):
- Ed25519: `openssl pkeyutl -sign -rawin -inkey KEY -in PKG -out PKG.sig`, the raw 64-byte
  signature over the file's bytes;
- RSA: `openssl dgst -sha256 -sign KEY -out PKG.sig PKG`, PKCS#1 v1.5 over the file's SHA-256.
Verified with Python `cryptography` (CentOS 7's openssl has no Ed25519), imported only when a
key is configured.
"""
import os

from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _

SUFFIX = ".sig"
MAX_KEY_BYTES = 64 * 1024  # a PEM public key is well under this (RSA 16384: ~3 KB)
MAX_SIG_BYTES = 16 * 1024
MIN_RSA_BITS = 2048
HINT_KEY = N_("[packages] public_key must name the vendor's public key in PEM form (-----BEGIN PUBLIC KEY-----, "
              "as 'openssl pkey -pubout' writes it), Ed25519 or RSA; see docs/upgrade.md, 'Package signatures'")


class Refused(Exception):
    """A key, package or signature that must not be used. Kept as msgids (N_) with their fields so
    that a caller says it in the operator's language (error()) or in both (the precheck report)."""

    def __init__(self, msgid, hint, **fields):
        super().__init__(msgid.format(**fields))
        self.msgid = msgid
        self.hint = hint
        self.fields = fields

    def error(self):
        return DrupgradeError(_(self.msgid).format(**self.fields), code=EXIT_USAGE,
                              hint=_(self.hint).format(**self.fields))


class PublicKey:
    """A loaded Ed25519 or RSA public key: kind is 'Ed25519' or 'RSA'."""

    def __init__(self, path, key, kind):
        self.path = path
        self.key = key
        self.kind = kind

    @property
    def needs_data(self):
        """Ed25519 signs the bytes themselves (the verifier needs them); RSA signs their SHA-256."""
        return self.kind == "Ed25519"

    def verify(self, package, digest, data=None):
        """Check package + SUFFIX against package's bytes: digest = their SHA-256 (bytes), data = the
        bytes (needed when needs_data). Raises Refused naming the package and what failed."""
        from cryptography.exceptions import InvalidSignature
        sig_path = package + SUFFIX
        try:
            with open(sig_path, "rb") as f:
                sig = f.read(MAX_SIG_BYTES + 1)
        except FileNotFoundError:
            raise Refused(N_("package {file} has no signature {sig}, and [packages] public_key ({key}) "
                             "requires one"),
                          N_("copy {sig} from the vendor's release beside the package (the vendor writes it "
                             "with packaging/sign.sh); do not use a package without it"),
                          file=package, sig=sig_path, key=self.path) from None
        except OSError as e:
            raise Refused(N_("cannot read the signature {sig} of package {file}: {error}"),
                          N_("check the file's permissions, or copy it again from the vendor's release"),
                          file=package, sig=sig_path, error=e.strerror or str(e)) from None
        try:
            if len(sig) > MAX_SIG_BYTES:
                raise InvalidSignature()
            if self.kind == "Ed25519":
                self.key.verify(sig, data)
            else:
                from cryptography.hazmat.primitives import hashes
                from cryptography.hazmat.primitives.asymmetric import padding, utils
                self.key.verify(sig, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        except InvalidSignature:
            raise Refused(N_("package {file} fails its signature check ({sig}, {kind} key {key}): the file is "
                             "not what the vendor signed"),
                          N_("do not use this package: copy the package and its .sig again from the vendor's "
                             "release, and check that [packages] public_key is that vendor's key"),
                          file=package, sig=sig_path, kind=self.kind, key=self.path) from None


def load_public_key(path):
    """The one place [packages] public_key is read: a PublicKey, or Refused (exit 2 through
    Refused.error()) saying what is wrong with the file and what to do."""
    from drupgrade import config
    if not os.path.lexists(path):
        raise Refused(N_("the package signing key {key} ([packages] public_key) does not exist"),
                      N_("put the vendor's public key there, or correct [packages] public_key (a relative path "
                         "is read beside the config file)"), key=path)
    try:  # a file we trust: a regular file only the invoker or root can change, read from one descriptor
        pem, _st = config.read_checked(path, _("package public key"), MAX_KEY_BYTES)
    except DrupgradeError as e:
        raise Refused(N_("cannot read the package signing key {key}: {error}"), HINT_KEY, key=path,
                      error=e.message) from None
    if b"PRIVATE KEY-----" in pem:
        raise Refused(N_("the package signing key {key} is a private key"),
                      N_("configure the vendor's public key ('openssl pkey -in KEY -pubout' writes it); a private "
                         "signing key does not belong on the control node"), key=path)
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    try:
        key = load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise Refused(N_("the package signing key {key} is not a PEM public key: {error}"), HINT_KEY, key=path,
                      error=(str(e).splitlines() or [type(e).__name__])[0]) from None
    if isinstance(key, ed25519.Ed25519PublicKey):
        return PublicKey(path, key, "Ed25519")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise Refused(N_("the package signing key {key} is an RSA key of {bits} bits; at least {min} are "
                             "required"), HINT_KEY, key=path, bits=key.key_size, min=MIN_RSA_BITS)
        return PublicKey(path, key, "RSA")
    kinds = ((ec.EllipticCurvePublicKey, "EC"), (dsa.DSAPublicKey, "DSA"), (ed448.Ed448PublicKey, "Ed448"),
             (x25519.X25519PublicKey, "X25519"), (x448.X448PublicKey, "X448"))
    kind = next((name for cls, name in kinds if isinstance(key, cls)), type(key).__name__)
    raise Refused(N_("the package signing key {key} is a {kind} key; only Ed25519 and RSA keys are supported"),
                  HINT_KEY, key=path, kind=kind)

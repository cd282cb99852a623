"""The product packages of a run, on the controller, before anything is uploaded: present, authentic
(PKG.sig against [packages] public_key) or, without a key, at least matching their .sha256, and
safe to unpack (only plain files and directories under NAME/ for NAME.tar.gz).

Everything is read once per package: the sha256 that the nodes check (DR_PACKAGE_SHA256) is
the hash of the very bytes whose signature was verified.
"""
import hashlib
import io
import os
import re
import tarfile
import zlib

from drupgrade import product, signing, versions
from drupgrade.i18n import N_, _
from drupgrade.signing import Refused

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
# What a member's name may hold: printable ASCII without quotes or backslashes (the node's check
# reads tar's C-quoted listing and refuses every escaped name, so both sides agree).
SAFE_NAME = re.compile(r'^[\x20-\x21\x23-\x5b\x5d-\x7e]+$')
PLAIN_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE)
LINK_TYPES = (tarfile.SYMTYPE, tarfile.LNKTYPE)
MAX_SHA256_FILE = 64 * 1024
CHUNK = 4 * 1024 * 1024
UNSIGNED = N_("packages are only checksummed (the sha256 in the .sha256 file beside each package), not "
              "authenticated: whoever can replace a package can replace its .sha256 too. Set [packages] "
              "public_key to the vendor's public key to require a signature (docs/upgrade.md, "
              "'Package signatures')")
HINT_MEMBERS = N_("do not use this package: get it again from the vendor (a package holds only plain files and "
                  "directories under {top}/)")
UNSAFE = {
    "link": N_("package {file} holds a link {member} (symbolic and hard links are not allowed in a package)"),
    "special": N_("package {file} holds a device, fifo or other special file {member}"),
    "setid": N_("package {file} holds {member} with the setuid or setgid bit"),
    "outside": N_("package {file} holds {member}, which is outside {top}/ (absolute, '..' or another top "
                  "directory)"),
    "name": N_("package {file} holds a member whose name has quotes, backslashes, control or non-ASCII "
               "characters: {member}"),
}


def package_path(cfg, version):
    return os.path.join(cfg.section("packages").get("repo", ""), product.of(cfg).package_name(version))


def public_key(cfg):
    """The configured signing key (signing.PublicKey), None without [packages] public_key; Refused."""
    path = cfg.section("packages").get("public_key")
    return signing.load_public_key(path) if path else None


def read_sha256_file(path):
    """The sha256 (lower-case hex) a `sha256sum`-style file starts with; a BOM, CRLF or a trailing
    file name are fine. Raises Refused when it is missing, empty or holds no sha256."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_SHA256_FILE).decode("utf-8-sig", "replace")
    except FileNotFoundError:
        raise Refused(N_("the checksum file {sha} of package {file} is missing"),
                      N_("copy {sha} beside the package from its source, or set [packages] public_key and copy "
                         "the package's .sig instead"), sha=path, file=path[:-len(".sha256")]) from None
    except OSError as e:
        raise Refused(N_("cannot read the checksum file {sha}: {error}"),
                      N_("check the file's permissions, or copy it again from the package's source"),
                      sha=path, error=e.strerror or str(e)) from None
    words = text.split()
    if not words or not SHA256.match(words[0]):
        raise Refused(N_("the checksum file {sha} is empty or does not start with a sha256 (64 hex digits)"),
                      N_("copy {sha} again from the package's source (it is a 'sha256sum' line: HASH  NAME)"),
                      sha=path)
    return words[0].lower()


def _shown(name):
    """A member name as printable ASCII (control characters escaped)."""
    return name.encode("unicode_escape").decode("ascii")


def check_members(fileobj, package, top):
    """Refuse a tar.gz whose members are not plain files and directories under top/ (absolute names,
    '..', links, devices, fifos, setuid/setgid bits, odd names). fileobj: the package's bytes."""
    def refuse(kind, member):
        raise Refused(UNSAFE[kind], HINT_MEMBERS, file=package, member=_shown(member), top=top)
    try:
        with tarfile.open(fileobj=fileobj, mode="r:gz") as tar:
            for m in tar:
                if not SAFE_NAME.match(m.name):
                    refuse("name", m.name)
                if m.type in LINK_TYPES:
                    refuse("link", m.name)
                if m.type not in PLAIN_TYPES:
                    refuse("special", m.name)
                if m.mode & 0o6000:
                    refuse("setid", m.name)
                parts = m.name.split("/")
                if parts[0] != top or ".." in parts:
                    refuse("outside", m.name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise Refused(N_("package {file} is not a readable .tar.gz archive: {error}"),
                      N_("copy the package again from its source"), file=package,
                      error=str(e) or type(e).__name__) from None


def verify(path, key):
    """One package: read once, authenticated by key (or checked against its .sha256 without one),
    members checked. {'file', 'sha256', 'signature': 'Ed25519'|'RSA'|None}; raises Refused."""
    top = os.path.basename(path)[:-len(".tar.gz")]
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise Refused(N_("package {file} is missing from [packages] repo"),
                      N_("copy {name} and its {proof} into {repo}"), file=path, name=os.path.basename(path),
                      proof=".sig" if key else ".sha256", repo=os.path.dirname(path)) from None
    except OSError as e:
        raise Refused(N_("cannot read package {file}: {error}"), N_("check the file's permissions"),
                      file=path, error=e.strerror or str(e)) from None
    with f:
        h, data = hashlib.sha256(), None
        if key is not None and key.needs_data:  # Ed25519 verifies the bytes themselves: one copy in memory
            data = f.read()
            h.update(data)
        else:
            for b in iter(lambda: f.read(CHUNK), b""):
                h.update(b)
        if key is not None:
            key.verify(path, h.digest(), data)
        else:
            want = read_sha256_file(path + ".sha256")
            if h.hexdigest() != want:
                raise Refused(N_("package {file} fails its sha256 check: expected {want}, got {got}"),
                              N_("copy the package again from its source"), file=path, want=want, got=h.hexdigest())
        if data is None:
            f.seek(0)
        check_members(io.BytesIO(data) if data is not None else f, path, top)
    return {"file": path, "sha256": h.hexdigest(), "signature": key.kind if key is not None else None}


def verify_hops(cfg, hops):
    """{version: verify()} for the target package of every hop; DrupgradeError (exit 2) at the
    first key or package that fails, naming it and what to do."""
    found = {}
    try:
        if hops and not cfg.section("packages").get("repo"):
            raise Refused(N_("[packages] repo is not set: the run needs the product package of every hop"),
                          N_("set [packages] repo in the configuration to the directory that holds the "
                             "packages ({file})"), file=product.of(cfg).package_name("<version>"))
        key = public_key(cfg)
        for _src, dst in hops:
            if dst not in found:
                found[dst] = verify(package_path(cfg, dst), key)
    except Refused as e:
        raise e.error() from None
    return found


def describe(record):
    """One line for the console: the package and how it was verified."""
    name = os.path.basename(record["file"])
    if record["signature"]:
        return _("package {file}: signature ok ({kind}), sha256 {sha}").format(
            file=name, kind=record["signature"], sha=record["sha256"])
    return _("package {file}: sha256 ok (not authenticated), sha256 {sha}").format(file=name, sha=record["sha256"])


def report(cfg, hops):
    """(the plan's package_authentication object, the DrupgradeError `run` would stop with or None).
    Every package is reported; nothing raises."""
    path = cfg.section("packages").get("public_key")
    auth = {"method": "signature" if path else "checksum", "public_key": path or None, "key_type": None,
            "note": None if path else _(UNSIGNED), "packages": []}
    error = key = key_problem = None
    try:
        key = public_key(cfg)
        auth["key_type"] = key.kind if key else None
    except Refused as e:  # said for every package below
        error, key_problem = e.error(), _(e.msgid).format(**e.fields)
    for dst in sorted({d for _s, d in hops}, key=versions.key):
        entry = {"version": dst, "file": package_path(cfg, dst), "verified": False, "sha256": None, "problem": None}
        if key_problem:
            entry["problem"] = key_problem
        else:
            try:
                record = verify(entry["file"], key)
                entry.update(verified=True, sha256=record["sha256"])
            except Refused as e:
                entry["problem"] = _(e.msgid).format(**e.fields)
                error = error or e.error()
        auth["packages"].append(entry)
    return auth, error

"""Packages on the controller (drupgrade.packages, drupgrade.signing): signatures made by the real
openssl CLI (Ed25519 and RSA), the unsigned fallback's .sha256, and the tar member check."""
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from drupgrade import config, i18n, packages, signing
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.signing import Refused

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "fixtures", "package"))
import mkpkg  # noqa: E402

OPENSSL = shutil.which("openssl")


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")


def openssl(*args):
    assert OPENSSL, "the openssl command is needed to make the test signatures"
    subprocess.check_call([OPENSSL] + list(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """{name: (private, public)} made by openssl: two Ed25519, RSA 2048 and 1024, EC P-256."""
    d = tmp_path_factory.mktemp("keys")
    found = {}
    for name, opts in (("ed", ["-algorithm", "ed25519"]), ("ed2", ["-algorithm", "ed25519"]),
                       ("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                       ("rsa1024", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"]),
                       ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        private, public = str(d / (name + ".key")), str(d / (name + ".pub"))
        openssl("genpkey", *opts, "-out", private)
        openssl("pkey", "-in", private, "-pubout", "-out", public)
        found[name] = (private, public)
    return found


def sign(keys, name, pkg):
    """PKG.sig exactly as the documented openssl commands write it."""
    private = keys[name][0]
    if name.startswith("ed"):
        openssl("pkeyutl", "-sign", "-rawin", "-inkey", private, "-in", pkg, "-out", pkg + ".sig")
    else:
        openssl("dgst", "-sha256", "-sign", private, "-out", pkg + ".sig", pkg)


def repo(tmp_path, kind="good"):
    d = tmp_path / "repo"
    d.mkdir(exist_ok=True)
    return mkpkg.build(str(d / "drp-2.2.0.tar.gz"), kind)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_sha256(pkg, content=None):
    with open(pkg + ".sha256", "wb") as f:
        f.write(content if content is not None else ("%s  %s\n" % (sha256(pkg), os.path.basename(pkg))).encode())


def cfg(tmp_path, public_key=None):
    text = ("[ssh_config]\nusername = root\n\n[node:node1]\nhost = 10.0.0.1\nroles = db_primary, etcd, kmc, app\n"
            "\n[packages]\nrepo = repo\n")
    if public_key:
        text += "public_key = %s\n" % public_key
    path = tmp_path / "upgrade.ini"
    path.write_text(text)
    os.chmod(str(path), 0o600)
    return config.load(str(path))


def refused(fn, *args):
    with pytest.raises(Refused) as exc:
        fn(*args)
    return str(exc.value)


# -- signatures ---------------------------------------------------------------------------
@pytest.mark.parametrize("name,kind", [("ed", "Ed25519"), ("rsa", "RSA")])
def test_an_openssl_signature_verifies_and_the_sha256_is_of_the_verified_bytes(tmp_path, keys, name, kind):
    pkg = repo(tmp_path)
    sign(keys, name, pkg)
    record = packages.verify(pkg, signing.load_public_key(keys[name][1]))
    assert record == {"file": pkg, "sha256": sha256(pkg), "signature": kind}


@pytest.mark.parametrize("name", ["ed", "rsa"])
def test_a_package_changed_after_signing_is_refused(tmp_path, keys, name):
    pkg = repo(tmp_path)
    sign(keys, name, pkg)
    with open(pkg, "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    text = refused(packages.verify, pkg, signing.load_public_key(keys[name][1]))
    assert "package %s fails its signature check" % pkg in text and "not what the vendor signed" in text


def test_a_missing_signature_is_refused_when_a_key_is_configured(tmp_path, keys):
    pkg = repo(tmp_path)
    write_sha256(pkg)  # a matching .sha256 does not stand in for the signature
    text = refused(packages.verify, pkg, signing.load_public_key(keys["ed"][1]))
    assert "package %s has no signature %s.sig" % (pkg, pkg) in text


@pytest.mark.parametrize("signer,checker", [("ed2", "ed"), ("rsa", "ed"), ("ed", "rsa")])
def test_a_signature_by_another_key_is_refused(tmp_path, keys, signer, checker):
    pkg = repo(tmp_path)
    sign(keys, signer, pkg)
    assert "fails its signature check" in refused(packages.verify, pkg, signing.load_public_key(keys[checker][1]))


def test_an_empty_or_oversized_signature_is_refused(tmp_path, keys):
    pkg = repo(tmp_path)
    key = signing.load_public_key(keys["ed"][1])
    for content in (b"", b"x" * (signing.MAX_SIG_BYTES + 1)):
        with open(pkg + ".sig", "wb") as f:
            f.write(content)
        assert "fails its signature check" in refused(packages.verify, pkg, key)


def test_keys_that_cannot_be_used_are_refused_naming_the_file(tmp_path, keys):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n")
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00\x01 not pem at all")
    cases = [
        (keys["ec"][1], "is a EC key; only Ed25519 and RSA keys are supported"),
        (keys["rsa1024"][1], "is an RSA key of 1024 bits; at least 2048 are required"),
        (keys["ed"][0], "is a private key"),
        (str(bad), "is not a PEM public key"),
        (str(garbage), "is not a PEM public key"),
        (str(tmp_path / "nope.pub"), "does not exist"),
        (str(tmp_path), "cannot read the package signing key"),
    ]
    for path, what in cases:
        text = refused(signing.load_public_key, path)
        assert path in text and what in text, (path, text)


def test_verify_hops_is_exit_2_naming_the_package(tmp_path, keys):
    pkg = repo(tmp_path)
    conf = cfg(tmp_path, keys["ed"][1])
    with pytest.raises(DrupgradeError) as exc:
        packages.verify_hops(conf, [("2.1.0", "2.2.0")])
    assert exc.value.code == EXIT_USAGE and pkg in exc.value.message and "has no signature" in exc.value.message
    assert "packaging/sign.sh" in exc.value.hint
    sign(keys, "ed", pkg)
    found = packages.verify_hops(cfg(tmp_path, keys["ed"][1]), [("2.1.0", "2.2.0")])
    assert found["2.2.0"]["sha256"] == sha256(pkg) and found["2.2.0"]["signature"] == "Ed25519"


def test_a_relative_public_key_is_read_beside_the_config(tmp_path, keys):
    shutil.copy(keys["rsa"][1], str(tmp_path / "vendor.pub"))
    pkg = repo(tmp_path)
    sign(keys, "rsa", pkg)
    assert packages.verify_hops(cfg(tmp_path, "vendor.pub"), [("2.1.0", "2.2.0")])["2.2.0"]["signature"] == "RSA"
    conf = cfg(tmp_path, "keys/missing.pub")
    with pytest.raises(DrupgradeError) as exc:
        packages.verify_hops(conf, [("2.1.0", "2.2.0")])
    assert exc.value.code == EXIT_USAGE and str(tmp_path / "keys" / "missing.pub") in exc.value.message


def test_the_plan_reports_every_package_and_does_not_raise(tmp_path, keys):
    pkg = repo(tmp_path)
    auth, error = packages.report(cfg(tmp_path, keys["ed"][1]), [("2.1.0", "2.2.0")])
    assert auth["method"] == "signature" and auth["key_type"] == "Ed25519" and auth["note"] is None
    assert auth["packages"][0]["verified"] is False and "has no signature" in auth["packages"][0]["problem"]
    assert error.code == EXIT_USAGE and pkg in error.message
    auth, error = packages.report(cfg(tmp_path, str(tmp_path / "none.pub")), [("2.1.0", "2.2.0")])
    assert "does not exist" in auth["packages"][0]["problem"] and error.code == EXIT_USAGE
    write_sha256(pkg)
    auth, error = packages.report(cfg(tmp_path), [("2.1.0", "2.2.0")])
    assert error is None and auth["method"] == "checksum" and "only checksummed" in auth["note"]
    assert auth["packages"] == [{"version": "2.2.0", "file": pkg, "verified": True, "sha256": sha256(pkg),
                                 "problem": None}]


# -- the unsigned fallback: .sha256 ---------------------------------------------------------
@pytest.mark.parametrize("content", [b"", b"\n  \n", b"\xef\xbb\xbf", b"not-a-hash  drp-2.2.0.tar.gz\n"])
def test_an_empty_or_garbled_sha256_file_is_exit_2_not_a_crash(tmp_path, content):
    pkg = repo(tmp_path)
    write_sha256(pkg, content)
    conf = cfg(tmp_path)
    with pytest.raises(DrupgradeError) as exc:
        packages.verify_hops(conf, [("2.1.0", "2.2.0")])
    assert exc.value.code == EXIT_USAGE
    assert "the checksum file %s.sha256 is empty or does not start with a sha256" % pkg in exc.value.message


def test_a_sha256_file_with_a_bom_and_crlf_is_read(tmp_path):
    pkg = repo(tmp_path)
    write_sha256(pkg, b"\xef\xbb\xbf" + sha256(pkg).upper().encode() + b"  drp-2.2.0.tar.gz\r\n")
    assert packages.verify(pkg, None) == {"file": pkg, "sha256": sha256(pkg), "signature": None}


def test_a_missing_or_mismatching_sha256_is_refused(tmp_path):
    pkg = repo(tmp_path)
    assert "the checksum file %s.sha256 of package %s is missing" % (pkg, pkg) in refused(packages.verify, pkg, None)
    write_sha256(pkg, b"0" * 64 + b"\n")
    assert "fails its sha256 check: expected " + "0" * 64 in refused(packages.verify, pkg, None)
    os.unlink(pkg)
    assert "package %s is missing from [packages] repo" % pkg in refused(packages.verify, pkg, None)


# -- the tar member check -----------------------------------------------------------------
@pytest.mark.parametrize("kind,why", [
    ("symlink_arrow", "holds a link"), ("symlink_inside", "holds a link"), ("hardlink", "holds a link"),
    ("hardlink_out", "holds a link"), ("chardev", "device, fifo"), ("blockdev", "device, fifo"),
    ("fifo", "device, fifo"), ("setuid", "setuid or setgid"), ("setgid", "setuid or setgid"),
    ("dotdot", "outside drp-2.2.0/"), ("absolute", "outside drp-2.2.0/"), ("outside", "outside drp-2.2.0/"),
    ("top_file", "outside drp-2.2.0/"), ("newline", "control or non-ASCII"), ("quote", "quotes, backslashes"),
    ("nonascii", "non-ASCII"),
])
def test_the_controller_refuses_members_that_are_not_plain(tmp_path, kind, why):
    pkg = repo(tmp_path, kind)
    write_sha256(pkg)
    text = refused(packages.verify, pkg, None)
    assert text.startswith("package %s holds" % pkg) and why in text, text
    assert "\n" not in text  # a name with a newline is shown escaped


def test_plain_packages_and_the_drp_build_pass_the_member_check(tmp_path):
    pkg = repo(tmp_path, "extra")  # an extra plain file: the node's manifest check refuses it, not this one
    write_sha256(pkg)
    assert packages.verify(pkg, None)["sha256"] == sha256(pkg)
    out = tmp_path / "built"
    subprocess.check_call([os.path.join(TOP, "packaging", "drp", "build.sh"), str(out), "2.2.0"],
                          stderr=subprocess.DEVNULL)
    assert packages.verify(str(out / "drp-2.2.0.tar.gz"), None)["signature"] is None


def test_a_file_that_is_not_a_tar_gz_is_refused(tmp_path):
    pkg = repo(tmp_path)
    with open(pkg, "wb") as f:
        f.write(b"this is not gzip")
    write_sha256(pkg)
    assert "is not a readable .tar.gz archive" in refused(packages.verify, pkg, None)

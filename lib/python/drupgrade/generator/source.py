"""A package the generator reads: a tarball as built (NAME.tar.gz holding NAME/ with VERSION and
MANIFEST.sha256) or that tree unpacked. A tarball's members are checked as a run checks them
(packages.check_members: plain files and directories under NAME/ only) and unpacked into a
private temporary directory; nothing of the package is ever run or changed.

The product is the one whose product.json `package` pattern the name matches; the version is
that name's, and the package's VERSION file must say the same."""
import json
import os
import re
import shutil
import tarfile
import tempfile

from drupgrade import config, packages, product, versions
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _
from drupgrade.signing import Refused

SUFFIX = ".tar.gz"
MANIFEST = "MANIFEST.sha256"
HINTS = "generator.json"


def _usage(message, hint):
    return DrupgradeError(message, code=EXIT_USAGE, hint=hint)


def _not_a_package(path, why):
    return _usage(_("{path} is not a product package: {why}").format(path=path, why=why),
                  _("give a package as built (NAME.tar.gz from build/packages) or its unpacked top "
                    "directory NAME/ holding VERSION and MANIFEST.sha256"))


def name_pattern(prod):
    """The regular expression of a product's package top directory (its package pattern, without
    .tar.gz), with the version as group 1."""
    top = prod.data["package"]
    if top.endswith(SUFFIX):
        top = top[:-len(SUFFIX)]
    before, _sep, after = top.partition("{version}")
    return re.compile("^%s([0-9]+\\.[0-9]+\\.[0-9]+)%s$" % (re.escape(before), re.escape(after)))


def identify(top, products_dir=None):
    """(Product, version) of a package's top directory name, or None when no product's pattern
    matches."""
    for name in product.names(products_dir):
        prod = product.load(name, products_dir)
        m = name_pattern(prod).match(top)
        if m:
            return prod, m.group(1)
    return None


def hints(prod):
    """products/<name>/generator.json, validated (schemas/generator.json); exit 2 when missing."""
    path = os.path.join(prod.dir, HINTS)
    if not os.path.isfile(path):
        raise _usage(_("the product {name} has no generator hints: {file} does not exist").format(
            name=prod.name, file=path),
            _("write {file} (schemas/generator.json; docs/framework.md, 'The generator')").format(file=path))
    return config.load_json(path, "generator")


class Source:
    """An opened package: root (its unpacked top directory), version, product, the files of its
    MANIFEST.sha256 ({path: sha256}), its hints. close() removes what was unpacked."""

    def __init__(self, path, root, prod, version, tmp=None):
        self.path = path
        self.root = root
        self.product = prod
        self.version = version
        self.name = os.path.basename(root)
        self._tmp = tmp
        self.manifest = _manifest(path, os.path.join(root, MANIFEST))
        self.hints = hints(prod)

    def file(self, rel):
        return os.path.join(self.root, rel)

    def read_text(self, rel):
        """The text of a file of the package, None when it has none."""
        try:
            with open(self.file(rel), encoding="utf-8", errors="replace") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_json(self, rel):
        text = self.read_text(rel)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError as e:
            raise _not_a_package(self.path, _("{file} is not valid JSON: {reason}").format(
                file=rel, reason=getattr(e, "msg", str(e)))) from None

    def close(self):
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _manifest(path, manifest):
    try:
        with open(manifest, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise _not_a_package(path, _("it has no {file}").format(file=MANIFEST)) from None
    found = {}
    for n, line in enumerate(lines, 1):
        digest, _sep, rel = line.partition("  ")
        if not packages.SHA256.match(digest) or not rel:
            raise _not_a_package(path, _("{file} line {n} is not 'SHA256  PATH'").format(file=MANIFEST, n=n))
        found[rel] = digest.lower()
    return found


def _extract(path, top):
    """Unpack a checked tarball into a private temporary directory: (tmp, root)."""
    try:
        with open(path, "rb") as f:
            packages.check_members(f, path, top)
    except Refused as e:
        raise _not_a_package(path, _(e.msgid).format(**e.fields)) from None
    tmp = tempfile.mkdtemp(prefix="drupgrade-generate-")
    try:
        with tarfile.open(path, "r:gz") as tar:
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, **kwargs)  # noqa: S202 - members checked above: plain files, dirs under top/
    except (tarfile.TarError, OSError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _not_a_package(path, str(e) or type(e).__name__) from None
    root = os.path.join(tmp, top)
    if not os.path.isdir(root):
        shutil.rmtree(tmp, ignore_errors=True)
        raise _not_a_package(path, _("it holds no directory {top}/").format(top=top))
    return tmp, root


def open_package(path, products_dir=None):
    """The package at path as a Source (close it, or use `with`); exit 2 when it is not one."""
    path = os.path.abspath(path)
    if not os.path.exists(path):
        raise _usage(_("{path} does not exist").format(path=path),
                     _("give the path of a package (build/packages/NAME.tar.gz) or of its unpacked directory"))
    is_dir = os.path.isdir(path)
    base = os.path.basename(path.rstrip("/"))
    if not is_dir and not base.endswith(SUFFIX):
        raise _not_a_package(path, _("neither a directory nor a .tar.gz file"))
    top = base if is_dir else base[:-len(SUFFIX)]
    found = identify(top, products_dir)
    if found is None:
        raise _not_a_package(path, _("its name {name} matches no product's package name ({patterns})").format(
            name=top, patterns=", ".join(product.load(n, products_dir).data["package"]
                                         for n in product.names(products_dir))))
    prod, version = found
    tmp, root = (None, path) if is_dir else _extract(path, top)
    try:
        text = (open(os.path.join(root, "VERSION"), encoding="utf-8", errors="replace").read().strip()
                if os.path.isfile(os.path.join(root, "VERSION")) else "")
        if not text:
            raise _not_a_package(path, _("it has no VERSION file"))
        try:
            said = versions.normalize(text)
        except DrupgradeError:
            said = None
        if said != version:
            raise _not_a_package(path, _("its VERSION says {text!r}, its name says {version}").format(
                text=text[:40], version=version))
        return Source(path, root, prod, version, tmp)
    except BaseException:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_pair(old_path, new_path, product_name=None, products_dir=None):
    """(old, new) Sources of one product, new newer than old; exit 2 (both closed) when they are of
    two products, not of product_name, the same version, or a downgrade."""
    old = open_package(old_path, products_dir)
    try:
        new = open_package(new_path, products_dir)
    except BaseException:
        old.close()
        raise
    try:
        if old.product.name != new.product.name:
            raise _usage(_("the two packages are of different products: {old} is {a}, {new} is {b}").format(
                old=old.path, a=old.product.name, new=new.path, b=new.product.name),
                _("give two versions of the same product"))
        if product_name and old.product.name != product_name:
            raise _usage(_("the packages are of the product {found}, not of {name}").format(
                found=old.product.name, name=product_name),
                _("give --product {found}, or packages of {name}").format(found=old.product.name, name=product_name))
        if old.version == new.version:
            raise _usage(_("both packages are version {version}: there is no upgrade to draft").format(
                version=old.version), _("give the older version with --from and the newer with --to"))
        if versions.key(new.version) < versions.key(old.version):
            raise _usage(_("--to {new} is older than --from {old}: a downgrade is not an upgrade").format(
                new=new.version, old=old.version),
                _("swap them: --from the older package, --to the newer one"))
    except BaseException:
        old.close()
        new.close()
        raise
    return old, new

"""The product the configuration names ([product] name, default config.DEFAULT_PRODUCT): its declaration
products/<name>/product.json (roles, version file, package name, parameters), its compatibility
matrix products/<name>/version_matrix.json, and the one reader of the version installed on a node
(plan, run, precheck, nodes, rollback). Everything product-specific lives in products/<name>/;
docs/framework.md says what each file holds."""
import functools
import os

from drupgrade import config, rolling, safetext, versions
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _, pick
from drupgrade.transport import TransportError

READ = 'cat -- "$1" 2>/dev/null || true'  # bash -c READ drversion the version file: its text, nothing when none
NOT_A_VERSION = N_("node {node}: {file} holds {text!r}, which is not a version")
NOT_A_VERSION_HINT = N_("check the product's installation on this node: its installer writes {file}")
MATRIX_FILE = "version_matrix.json"


class NotAVersion(DrupgradeError):
    """The node's version file holds something else than a version (text: what it holds, cleaned)."""

    def __init__(self, node, text, file):
        super().__init__(_(NOT_A_VERSION).format(node=node, file=file, text=text), code=EXIT_FAILED,
                         hint=_(NOT_A_VERSION_HINT).format(file=file))
        self.node = node
        self.text = text
        self.first = ""  # installed_version(before=…): that command's line


class Product:
    """One product: products/<name>/, its declaration validated (schemas/product.json)."""

    def __init__(self, name, products_dir=None):
        self.name = name
        self.dir = os.path.join(products_dir or config.PRODUCTS_DIR, name)
        self.declaration = os.path.join(self.dir, "product.json")
        self.data = config.product_declaration(name, products_dir)
        self.version_file = self.data["version_file"]  # one line such as 2.2.0 (SPEC §4)
        self.roles = self.data["roles"]
        self.parameters = self.data["parameters"]
        # {step: [roles]}: the nodes each engine step runs on (a step not named: every node)
        self.step_roles = {name: s["roles"] for name, s in self.data.get("steps", {}).items()}
        rule = self.data.get("rolling")
        self.rolling = rolling.Rule(rule) if rule else None  # how a rolling hop orders its nodes
        for i, role in enumerate([rule["serving_role"]] + rule.get("last_roles", []) if rule else []):
            if role not in self.roles:
                raise config.file_error(self.declaration, "/rolling/" + ("serving_role" if i == 0 else "last_roles"),
                                        _("unknown role {role} (the roles: {known})").format(
                                            role=role, known=", ".join(sorted(self.roles))))

    @property
    def label(self):
        return pick(self.data["label"], self.data["label_zh"])

    @property
    def first_role(self):
        """The role a primary-first step starts on (None: no such role)."""
        return next((r for r, rule in sorted(self.roles.items()) if rule.get("first")), None)

    def runs_step(self, step, roles):
        """True when a node with `roles` runs the engine step `step` (product.json steps; a step not
        named there runs on every node)."""
        want = self.step_roles.get(step, ["any"])
        return "any" in want or bool(set(want) & set(roles))

    def units_of(self, roles):
        """The units that run on a node with `roles` (roles.<role>.units), each once, in role order."""
        found = []
        for role in roles:
            found += [u for u in self.roles.get(role, {}).get("units", []) if u not in found]
        return found

    def check_context(self, roles):
        """What the tool's own state checks on a node with `roles` read of the product (drcheck):
        DR_UNITS, the units that must be running there (scripts/checks/60-services.sh)."""
        return {"DR_UNITS": " ".join(self.units_of(roles))}

    def secret_paths(self):
        """The node paths of the product's secrets (product.json secrets, ${product.X} replaced)."""
        from drupgrade import templates
        return [templates.substitute(s, {"product." + k: v for k, v in self.parameters.items()},
                                     self.declaration, "secrets") for s in self.data.get("secrets", [])]

    def package_name(self, version):
        """The package file of a version (its declaration's package with {version} replaced)."""
        return self.data["package"].replace("{version}", version)

    @property
    def matrix_path(self):
        return os.path.join(self.dir, MATRIX_FILE)

    def matrix(self):
        return versions.Matrix.load(self.matrix_path)

    def installed_version(self, transport, node, conn_type="control", timeout=60, retry=True, before=None):
        """The product version installed on `node`, normalised ('2.2.0'), or None when it has none
        (the file is missing, empty or unreadable). The node's text is cleaned before anything shows
        it. Raises TransportError when ssh itself failed (the node is out of reach, and why),
        NotAVersion (exit 1, naming the node and the file) when the file holds something that is
        not a version. before: a command whose one line of output comes first, in the same round
        trip (the precheck's clock); then the result is (that line, the version)."""
        script = before + "; " + READ if before else READ
        res = transport.run(node, ["bash", "-c", script, "drversion", self.version_file], conn_type=conn_type,
                            timeout=timeout, retry=retry)
        if res.ssh_failed:
            raise TransportError(res.stderr.strip() or _("exit code {rc}").format(rc=res.rc), node=node.name)
        rest, first = res.stdout if res.rc == 0 else "", ""
        if before:
            first, _nl, rest = rest.partition("\n")
        try:
            version = self._parse(node, rest)
        except NotAVersion as e:
            e.first = first  # the caller still gets the line of `before`
            raise
        return (first, version) if before else version

    def _parse(self, node, text):
        text = safetext.clean(text, one_line=True).strip()
        if not text:
            return None
        try:
            return versions.normalize(text)
        except DrupgradeError:
            raise NotAVersion(node.name, text[:100], self.version_file) from None


@functools.lru_cache(maxsize=None)
def load(name, products_dir=None):
    """The product `name` (products/<name>/), read once; a bad declaration is exit 2."""
    return Product(name, products_dir)


def of(cfg):
    """The product the configuration names ([product] name)."""
    return load(cfg.product_name)


def names(products_dir=None):
    return config.product_names(products_dir)

"""Wheelhouse helper for fetch.sh: pick the pins of one target, and check a wheelhouse is complete.

  wheelhouse.py filter --python 3.6.8 --machine aarch64 [--exclude NAME]... REQFILE...
      print `name==version` for every pin whose environment marker holds on that target
  wheelhouse.py copy --python 3.6.8 --machine aarch64 [--exclude NAME]... FROM TO REQFILE...
      copy into TO the wheel pip would pick on that target for each pin, from FROM;
      exit 1 naming the pins FROM has no wheel for
  wheelhouse.py verify --python V... --machine M... DIR REQFILE...
      for every (python, machine): each pin has a wheel in DIR that installs there
      (tags, Requires-Python), and every dependency the wheel declares for that target
      is pinned, in range; exit 1 naming each package, python and machine that fails
  wheelhouse.py hashes DIR REQFILE
      print REQFILE with `--hash=sha256:...` after each pin, one for every wheel of that
      name and version in DIR (every platform and Python the wheelhouse serves): what
      lib/bootstrap.sh installs with `pip install --require-hashes --no-index`; exit 1
      naming the pins DIR has no wheel for

pip evaluates environment markers against the interpreter that runs it, not against
`--python-version`, so the markers are evaluated here with the target's environment.
Runs on the build host's python3 (3.6+) with pip >= 21.1.
"""
import argparse
import email.parser
import hashlib
import os
import shutil
import sys
import zipfile

# pip's own copy of `packaging`: fetch.sh needs pip anyway, and this repo's packaging/
# folder would shadow the real one for tools run from the top.
from pip._vendor.packaging import tags
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.specifiers import SpecifierSet
from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename
from pip._vendor.packaging.version import Version

GLIBC_MINOR = 17  # manylinux2014: CentOS 7 is the oldest control node


class Target:
    """One (CPython version, machine) the wheelhouse must serve."""

    def __init__(self, python, machine):
        self.python = python
        self.machine = machine
        parts = [int(p) for p in python.split(".")]
        self.major_minor = (parts[0], parts[1])

    def __str__(self):
        return "python {} {}".format(self.python, self.machine)

    @property
    def abi(self):
        return "cp{}{}{}".format(self.major_minor[0], self.major_minor[1],
                                 "m" if self.major_minor < (3, 8) else "")

    def environment(self):
        short = "{}.{}".format(*self.major_minor)
        return {
            "python_version": short, "python_full_version": self.python,
            "implementation_name": "cpython", "implementation_version": self.python,
            "platform_python_implementation": "CPython", "platform_machine": self.machine,
            "platform_system": "Linux", "sys_platform": "linux", "os_name": "posix",
            "platform_release": "", "platform_version": "", "extra": "",
        }

    def tags(self):
        """Supported wheel tags, best first, as pip on that target would rank them."""
        plats = ["manylinux_2_{}_{}".format(m, self.machine) for m in range(GLIBC_MINOR, 4, -1)]
        plats.append("manylinux2014_" + self.machine)
        if self.machine == "x86_64":
            plats += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        interp = "cp{}{}".format(*self.major_minor)
        found = list(tags.cpython_tags(self.major_minor, abis=[self.abi], platforms=plats))
        found += list(tags.compatible_tags(self.major_minor, interpreter=interp, platforms=plats))
        return found


def read_pins(paths, target, exclude=()):
    """{canonical name: Requirement} of the pins that apply to target; errors as a list."""
    env = target.environment()
    pins, errors = {}, []
    for path in paths:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                req = Requirement(line)
                if req.marker is not None and not req.marker.evaluate(env):
                    continue
                name = canonicalize_name(req.name)
                specs = list(req.specifier)
                if len(specs) != 1 or specs[0].operator != "==":
                    errors.append("{}:{}: {} is not pinned with ==".format(path, number, req.name))
                elif name in pins:
                    errors.append("{}:{}: {} pinned twice for {}".format(path, number, req.name, target))
                elif name not in exclude and "{}=={}".format(name, specs[0].version) not in exclude:
                    pins[name] = req
    return pins, errors


def pinned_version(req):
    return Version(list(req.specifier)[0].version)


def index_wheels(directory):
    """{(canonical name, Version): [(filename, tag set)]} of the wheels in directory."""
    found = {}
    for filename in sorted(os.listdir(directory)):
        if filename.endswith(".whl"):
            name, version, _build, wheel_tags = parse_wheel_filename(filename)
            found.setdefault((name, version), []).append((filename, wheel_tags))
    return found


def best_wheel(candidates, ranked_tags):
    """The candidate pip would pick on the target, or None."""
    rank = {tag: i for i, tag in enumerate(ranked_tags)}
    scored = []
    for filename, wheel_tags in candidates:
        scores = [rank[t] for t in wheel_tags if t in rank]
        if scores:
            scored.append((min(scores), filename))
    return min(scored)[1] if scored else None


def wheel_metadata(path):
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist()
                    if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        return email.parser.Parser().parsestr(zf.read(name).decode("utf-8"), headersonly=True)


def check_target(directory, wheels, req_files, target):
    """Problems of one target, each a line naming package, python and machine."""
    pins, problems = read_pins(req_files, target)
    env = target.environment()
    full = Version(target.python)
    ranked = target.tags()
    for name, req in sorted(pins.items()):
        version = pinned_version(req)
        filename = best_wheel(wheels.get((name, version), []), ranked)
        if filename is None:
            problems.append("{}=={}: no wheel in {} installs on {}".format(
                name, version, directory, target))
            continue
        meta = wheel_metadata(os.path.join(directory, filename))
        requires_python = meta.get("Requires-Python")
        if requires_python and not SpecifierSet(requires_python).contains(full, prereleases=True):
            problems.append("{}: needs Python {}, not {}".format(filename, requires_python, target))
        for dep_line in meta.get_all("Requires-Dist") or []:
            dep = Requirement(dep_line)
            if dep.marker is not None and not dep.marker.evaluate(env):
                continue
            dep_name = canonicalize_name(dep.name)
            if dep_name not in pins:
                problems.append("{}=={} needs {} which is not pinned for {}".format(
                    name, version, dep, target))
            elif not dep.specifier.contains(pinned_version(pins[dep_name]), prereleases=True):
                problems.append("{}=={} needs {} but {} is pinned for {}".format(
                    name, version, dep, pins[dep_name], target))
    return problems


def copy_target(source, dest, req_files, target, exclude):
    """Copy the best wheel of each pin of target from source to dest; the pins lacking one."""
    pins, missing = read_pins(req_files, target, exclude)
    wheels = index_wheels(source)
    ranked = target.tags()
    for name, req in sorted(pins.items()):
        filename = best_wheel(wheels.get((name, pinned_version(req)), []), ranked)
        if filename is None:
            missing.append("{}: no wheel in {} for {}".format(req, source, target))
        elif not os.path.exists(os.path.join(dest, filename)):
            shutil.copy2(os.path.join(source, filename), os.path.join(dest, filename))
    return missing


def hashed_requirements(directory, path):
    """(the lines of path with the hashes of DIR's wheels added to each pin, the pins lacking a wheel)."""
    wheels = index_wheels(directory)
    lines = ["# Written by packaging/wheels/wheelhouse.py hashes from {}: every wheel the wheelhouse",
             "# ships for each pin. lib/bootstrap.sh installs it with pip --require-hashes --no-index."]
    lines[0] = lines[0].format(os.path.basename(path))
    missing = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            req = Requirement(line)
            found = wheels.get((canonicalize_name(req.name), pinned_version(req)), [])
            if not found:
                missing.append(line)
                continue
            digests = []
            for filename, _tags in found:
                with open(os.path.join(directory, filename), "rb") as w:
                    digests.append(hashlib.sha256(w.read()).hexdigest())
            lines.append(" \\\n    ".join([line] + ["--hash=sha256:" + d for d in sorted(digests)]))
    return lines, missing


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    flt = sub.add_parser("filter")
    flt.add_argument("--python", required=True)
    flt.add_argument("--machine", required=True)
    flt.add_argument("--exclude", action="append", default=[], help="NAME or NAME==VERSION")
    flt.add_argument("reqs", nargs="+")
    cpy = sub.add_parser("copy")
    cpy.add_argument("--python", required=True)
    cpy.add_argument("--machine", required=True)
    cpy.add_argument("--exclude", action="append", default=[], help="NAME or NAME==VERSION")
    cpy.add_argument("source")
    cpy.add_argument("dest")
    cpy.add_argument("reqs", nargs="+")
    ver = sub.add_parser("verify")
    ver.add_argument("--python", action="append", required=True)
    ver.add_argument("--machine", action="append", required=True)
    ver.add_argument("directory")
    ver.add_argument("reqs", nargs="+")
    hsh = sub.add_parser("hashes")
    hsh.add_argument("directory")
    hsh.add_argument("req")
    args = parser.parse_args(argv)

    if args.command == "hashes":
        lines, missing = hashed_requirements(args.directory, args.req)
        for line in missing:
            sys.stderr.write("missing: no wheel in {} for {}\n".format(args.directory, line))
        print("\n".join(lines))
        return 1 if missing else 0

    if args.command in ("filter", "copy"):
        exclude = {canonicalize_name(n.split("==")[0]) + n[len(n.split("==")[0]):]
                   for n in args.exclude}
    if args.command == "copy":
        missing = copy_target(args.source, args.dest, args.reqs,
                              Target(args.python, args.machine), exclude)
        for line in missing:
            sys.stderr.write("missing: " + line + "\n")
        return 1 if missing else 0
    if args.command == "filter":
        pins, errors = read_pins(args.reqs, Target(args.python, args.machine), exclude)
        for line in errors:
            sys.stderr.write("error: " + line + "\n")
        for name in sorted(pins):
            print("{}=={}".format(name, pinned_version(pins[name])))
        return 1 if errors else 0
    if args.command == "verify":
        wheels = index_wheels(args.directory)
        problems = []
        for python in args.python:
            for machine in args.machine:
                problems += check_target(args.directory, wheels, args.reqs, Target(python, machine))
        for line in problems:
            sys.stderr.write("error: " + line + "\n")
        return 1 if problems else 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

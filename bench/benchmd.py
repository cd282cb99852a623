"""docs/benchmarks.md: each benchmark owns one section (from its "## Title" line to the next one)."""
import os

PATH = "docs/benchmarks.md"


def write_section(title, section, path=PATH):
    """Replace the section that starts with `title` (a "## ..." line) by `section`, or append it."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    head, sep, rest = text.partition(title)
    if sep:
        nxt = rest.find("\n## ")
        rest = rest[nxt + 1:] if nxt >= 0 else ""
        text = head + section + ("\n" + rest if rest else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as f:
        f.write(text)
    print(section)

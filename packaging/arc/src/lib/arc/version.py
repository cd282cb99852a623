"""Program version; build.sh rewrites VERSION for each package."""
VERSION = "0.0.0"


def vtuple(v):
    """'1.1.0' -> (1, 1, 0); a leading 'v' is accepted."""
    return tuple(int(p) for p in str(v).strip().lstrip("v").split("."))


def at_least(v):
    """True if this program's version is >= v."""
    return vtuple(VERSION) >= vtuple(v)

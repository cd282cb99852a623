"""Text that came from a node (its VERSION file, stderr, step output, precheck records, manifest
fields) made safe to show: no terminal control characters, and rich markup shown as text.

Apply clean() where such text enters the controller's data, and show it through rich only as
text(); the log handlers clean every record as well (drupgrade.log), so a path that was missed
still cannot drive the operator's terminal or forge lines in the controller log.
"""
import re

# C0 controls except tab and newline, DEL, and C1 controls (ESC, CSI, OSC ... start terminal commands).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BREAKS = re.compile("[\t\n]")


def clean(text, one_line=False):
    """text without control characters (one_line: tabs and newlines become spaces as well)."""
    if text is None:
        return None
    text = _CONTROL.sub("", text if isinstance(text, str) else str(text))
    return _BREAKS.sub(" ", text) if one_line else text


def text(value, style=None):
    """A rich Text of cleaned node text: shown as it is, never read as markup."""
    from rich.text import Text
    return Text(clean(value), style=style or "")

"""The operator's language, zh or en (--lang, then LC_ALL/LC_MESSAGES/LANG), and the one place that
picks a text by it: gettext catalogs for msgids (`_`), `pick` for texts that come in both languages
(a step header's Summary/Summary-zh, a retry policy's summary/summary_zh), `both` for a msgid in both
(the precheck report), `node_env` for the node scripts' own `msg`."""
import gettext
import os
import unicodedata

DOMAIN = "drupgrade"
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Installed tarball: share/locale; source checkout after `make build`: build/locale.
LOCALE_DIRS = (
    os.path.join(_ROOT, "share", "locale"),
    os.path.join(_ROOT, "build", "locale"),
)

_state = {"lang": "en", "tr": gettext.NullTranslations()}
_catalogs = {}  # path of a compiled catalog -> its translations, each file read once per process
NODE_LANG = "DRUPGRADE_LANG"  # what the node scripts' msg (scripts/lib/common.sh) reads


def lang_from_env(environ=None):
    """zh for zh_* locales, en otherwise (first non-empty of LC_ALL, LC_MESSAGES, LANG)."""
    environ = os.environ if environ is None else environ
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def find_catalog(lang):
    """Path of the compiled catalog for lang, or None."""
    dirs = [os.environ.get("DRUPGRADE_LOCALEDIR", "")] + list(LOCALE_DIRS)
    code = "zh_CN" if lang == "zh" else "en"
    for d in dirs:
        path = os.path.join(d, code, "LC_MESSAGES", DOMAIN + ".mo") if d else ""
        if path and os.path.exists(path):
            return path
    return None


def _catalog(lang):
    """The translations of lang (none found: msgids as they are)."""
    path = find_catalog(lang)
    if not path:
        return gettext.NullTranslations()
    if path not in _catalogs:
        with open(path, "rb") as f:
            _catalogs[path] = gettext.GNUTranslations(f)
    return _catalogs[path]


def set_lang(lang=None):
    """Select the language ('zh' or 'en'; None: from the environment). Returns it."""
    lang = lang or lang_from_env()
    _state["tr"] = _catalog(lang)
    _state["lang"] = lang
    # Child tools on the controller speak the same language (node scripts: node_env).
    os.environ[NODE_LANG] = lang
    return lang


def current_lang():
    return _state["lang"]


def _(msgid):
    """Translate msgid into the current language."""
    return _state["tr"].gettext(msgid)


def N_(msgid):
    """Mark msgid for translation without translating it now."""
    return msgid


def pick(en, zh):
    """The operator's language of a text given in both (zh empty or missing: the English one)."""
    return zh if _state["lang"] == "zh" and zh else en


def zh(msgid):
    """The zh text of a msgid, whatever the current language."""
    return _catalog("zh").gettext(msgid)


def both(msgid, **kw):
    """{'zh': ..., 'en': ...} of a msgid marked with N_(), formatted (a report that keeps both)."""
    return {"zh": zh(msgid).format(**kw), "en": msgid.format(**kw)}


def node_env():
    """What a node script needs to speak the operator's language: {variable: zh|en}, for the
    environment of every drstep and drcheck the controller starts."""
    return {NODE_LANG: _state["lang"]}


def cells(text):
    """Terminal columns of text (CJK characters take two): what lines up zh and en tables."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text, width):
    """text filled with spaces to `width` terminal columns."""
    return text + " " * max(0, width - cells(text))

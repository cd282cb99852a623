"""Message catalogs: zh_CN or en, chosen by --lang, then LC_ALL/LC_MESSAGES/LANG."""
import gettext
import os

DOMAIN = "drupgrade"
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Installed tarball: share/locale; source checkout after `make build`: build/locale.
LOCALE_DIRS = (
    os.path.join(_ROOT, "share", "locale"),
    os.path.join(_ROOT, "build", "locale"),
)

_state = {"lang": "en", "tr": gettext.NullTranslations()}


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


def set_lang(lang=None):
    """Select the language ('zh' or 'en'; None: from the environment). Returns it."""
    lang = lang or lang_from_env()
    path = find_catalog(lang)
    if path:
        with open(path, "rb") as f:
            _state["tr"] = gettext.GNUTranslations(f)
    else:
        _state["tr"] = gettext.NullTranslations()
    _state["lang"] = lang
    # Node scripts and child tools speak the same language.
    os.environ["DRUPGRADE_LANG"] = lang
    return lang


def current_lang():
    return _state["lang"]


def _(msgid):
    """Translate msgid into the current language."""
    return _state["tr"].gettext(msgid)


def N_(msgid):
    """Mark msgid for translation without translating it now."""
    return msgid

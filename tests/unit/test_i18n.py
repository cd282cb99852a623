"""Every message exists in zh_CN and en; the language follows --lang, then the locale."""
import importlib.util
import os

import pytest

from drupgrade import i18n

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _msgids_module():
    spec = importlib.util.spec_from_file_location("msgids", os.path.join(TOP, "po", "msgids.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_msgid_has_a_zh_translation_with_the_same_placeholders():
    problems, used, _po = _msgids_module().problems()
    assert used, "no msgids found: the extractor is broken"
    assert problems == []


def test_checker_catches_a_missing_translation(tmp_path, monkeypatch):
    mod = _msgids_module()
    code = tmp_path / "drupgrade"
    code.mkdir()
    (code / "x.py").write_text('from drupgrade.i18n import _\n_("never translated {x}")\n_(f"{1}")\n')
    monkeypatch.setattr(mod, "CODE", str(code))
    problems, _used, _po = mod.problems()
    assert any("never translated" in p for p in problems)
    assert any("built string" in p for p in problems)


@pytest.mark.parametrize("env, lang", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
    ({"LC_ALL": "C", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "C"}, "zh"),
    ({}, "en"),
])
def test_language_from_environment(env, lang):
    assert i18n.lang_from_env(env) == lang


def test_both_catalogs_are_compiled_and_used():
    assert i18n.find_catalog("zh"), "zh_CN catalog missing: run 'make build'"
    assert i18n.find_catalog("en"), "en catalog missing: run 'make build'"
    i18n.set_lang("zh")
    assert i18n._("the file is empty") == "文件为空"
    assert os.environ["DRUPGRADE_LANG"] == "zh"
    i18n.set_lang("en")
    assert i18n._("the file is empty") == "the file is empty"
    assert os.environ["DRUPGRADE_LANG"] == "en"


def test_pick_chooses_the_operators_language_and_falls_back_to_english():
    i18n.set_lang("zh")
    assert i18n.pick("stop the services", "停止服务") == "停止服务"
    assert i18n.pick("stop the services", "") == "stop the services"  # no zh text: the English one
    i18n.set_lang("en")
    assert i18n.pick("stop the services", "停止服务") == "stop the services"


def test_zh_and_both_use_the_one_catalog_read_once(monkeypatch):
    reads = []
    real = i18n.gettext.GNUTranslations

    def counting(f):
        reads.append(f.name)
        return real(f)
    monkeypatch.setattr(i18n, "_catalogs", {})
    monkeypatch.setattr(i18n.gettext, "GNUTranslations", counting)
    i18n.set_lang("en")
    assert i18n.zh("the file is empty") == "文件为空"  # whatever the current language
    assert i18n.both("the file is empty") == {"zh": "文件为空", "en": "the file is empty"}
    i18n.set_lang("zh")
    assert i18n._("the file is empty") == "文件为空"
    i18n.set_lang("en")
    assert sorted(reads) == sorted({i18n.find_catalog("zh"), i18n.find_catalog("en")})


def test_node_scripts_get_the_operators_language():
    i18n.set_lang("zh")
    assert i18n.node_env() == {"DRUPGRADE_LANG": "zh"}
    i18n.set_lang("en")
    assert i18n.node_env() == {"DRUPGRADE_LANG": "en"}

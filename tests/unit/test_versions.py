"""Paths through the compatibility matrix (§4.7.1.2)."""
import os

import pytest

from drupgrade import i18n, versions
from drupgrade.errors import DrupgradeError

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def matrix():
    i18n.set_lang("en")
    return versions.Matrix.load(os.path.join(TOP, "products", "drp", "version_matrix.json"))


@pytest.mark.parametrize("src, dst, mode, hops, kind", [
    ("1.0.0", "2.2.0", "progressive", ["1.0.0", "1.5.0", "2.0.0", "2.1.0", "2.2.0"], "progressive_upgrade"),
    ("v1.0.0", "v2.2.0", "auto", ["1.0.0", "2.2.0"], "jump_upgrade"),
    ("1.0.0", "2.1.0", "auto", ["1.0.0", "1.5.0", "2.0.0", "2.1.0"], "progressive_upgrade"),
    ("1.5.0", "2.1.0", "auto", ["1.5.0", "2.0.0", "2.1.0"], "progressive_upgrade"),
    ("2.0.0", "2.2.0", "progressive", ["2.0.0", "2.2.0"], "progressive_upgrade"),
    ("2.1.0", "2.2.0", "auto", ["2.1.0", "2.2.0"], "jump_upgrade"),
])
def test_paths(matrix, src, dst, mode, hops, kind):
    got, got_kind = versions.plan_path(matrix, src, dst, mode)
    assert [got[0][0]] + [b for _a, b in got] == hops
    assert got_kind == kind


def test_same_version_needs_no_hop(matrix):
    assert versions.plan_path(matrix, "2.2.0", "v2.2.0") == ([], "none")


@pytest.mark.parametrize("src, dst, mode, words", [
    ("2.2.0", "1.0.0", "auto", "rollback_tool"),
    ("1.0.0", "3.0.0", "auto", "not in the compatibility matrix"),
    ("2.1.0", "2.0.0", "auto", "down to"),
    ("1.0.0", "2.1.0", "jump", "cannot jump"),
    ("2.2.0", "x", "auto", "not a version"),
])
def test_refusals_say_why(matrix, src, dst, mode, words):
    with pytest.raises(DrupgradeError) as exc:
        versions.plan_path(matrix, src, dst, mode)
    assert words in exc.value.message


def test_unsupported_pair_names_the_supported_targets():
    m = versions.Matrix({"versions": ["1.0.0", "2.0.0", "3.0.0"], "version_compatibility": {
        "1.0.0": {"supported_targets": ["2.0.0"], "direct_upgrade": ["2.0.0"], "progressive_upgrade": []}}})
    with pytest.raises(DrupgradeError) as exc:
        versions.plan_path(m, "1.0.0", "3.0.0")
    assert "does not support" in exc.value.message and "2.0.0" in exc.value.hint


def test_matrix_naming_an_unlisted_version_is_a_config_error():
    with pytest.raises(DrupgradeError) as exc:
        versions.Matrix({"versions": ["1.0.0", "2.0.0"], "version_compatibility": {
            "1.0.0": {"supported_targets": ["9.0.0"], "direct_upgrade": [], "progressive_upgrade": []}}})
    assert exc.value.code == 2 and "9.0.0" in exc.value.message


def _releases():
    with open(os.path.join(TOP, "packaging", "drp", "VERSIONS")) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def test_the_releases_file_is_the_one_list_the_matrix_and_the_expected_states_follow(matrix):
    """packaging/drp/VERSIONS is the list of releases: oldest first, every version of the matrix is one
    of them, and every release has the state a fresh install must reach (tests/infra/expected.json)."""
    import json
    releases = _releases()
    assert releases and releases == sorted(releases, key=versions.key)
    assert set(matrix.versions) <= set(releases)
    with open(os.path.join(TOP, "tests", "infra", "expected.json")) as f:
        assert sorted(json.load(f)["versions"], key=versions.key) == releases

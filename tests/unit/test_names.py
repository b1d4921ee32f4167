"""The one validator of names, versions and blob paths (Azure ML's rules), and path redaction."""

from __future__ import annotations

import pytest

from core.domain.names import (
    InvalidName,
    check_blob_path,
    check_name,
    check_version,
    redact_paths,
)


@pytest.mark.parametrize("name", ["churn", "fraud-detector", "a", "m_1.v2", "A" * 255])
def test_valid_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "my model", "team/fraud", "../../etc", "..", ".x", "-x",
                                  "_x", "x.", "a" * 256, "x\\y", "ü", "a:b", None, 3])
def test_invalid_names(name):
    with pytest.raises(InvalidName):
        check_name(name)


@pytest.mark.parametrize("version", ["1", "42", "v2", "2024.01.02", 7])
def test_valid_versions(version):
    assert check_version(version) == str(version)


@pytest.mark.parametrize("version", ["", "..", "../x", "1/2", "1\\2", "1.", "x" * 65, -1, True])
def test_invalid_versions(version):
    with pytest.raises(InvalidName):
        check_version(version)


@pytest.mark.parametrize("path", ["a.csv", "2026/11/x.csv", "ep/blue/model_inputs/x.jsonl"])
def test_valid_blob_paths(path):
    assert check_blob_path(path) == path


@pytest.mark.parametrize("path", [".hidden.csv", "a/.b/c.csv", "a\\b.csv", "a//b.csv",
                                  "a/\x01.csv", "x" * 256 + ".csv", "../x.csv"])
def test_invalid_blob_paths(path):
    with pytest.raises(InvalidName):
        check_blob_path(path)


def test_a_hostile_name_is_quoted_short():
    with pytest.raises(InvalidName) as info:
        check_name("x" * 5000)
    assert len(str(info.value)) < 300


def test_host_paths_are_redacted_but_routes_and_uris_kept():
    text = ("OSError: '/tmp/w/data/x/1.yml'; see /home/u/a.csv or C:\\Users\\x; "
            "replay: POST /api/models/m/ingestions/1/replay; azureml://datastores/d/paths/p")
    out = redact_paths(text)
    assert "/tmp/" not in out and "/home/" not in out and "C:\\" not in out
    assert "/api/models/m/ingestions/1/replay" in out and "azureml://datastores/d/paths/p" in out

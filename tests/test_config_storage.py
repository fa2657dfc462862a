from __future__ import annotations

import os

import pytest

from lakehouse.config import ConfigError, Settings, normalize_root
from lakehouse.storage import Storage


def test_default_root_is_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env(env={})
    assert s.root == str(tmp_path / "lakehouse-data")
    assert not s.is_s3


def test_s3_root_and_aws_names():
    s = Settings.from_env(env={"LAKEHOUSE_ROOT": "s3://bucket/pre/", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
                               "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1"})
    assert s.root == "s3://bucket/pre" and s.is_s3
    assert s.s3.endpoint_url == "http://127.0.0.1:9000" and s.s3.region == "eu-west-1" and s.s3.allow_http


def test_ovh_names_are_accepted():
    s = Settings.from_env(env={"DATASET_STORAGE_BACKEND": "s3", "OVH_S3_BUCKET": "team", "OVH_S3_ENDPOINT": "https://s3.example",
                               "OVH_S3_ACCESS_KEY": "k", "OVH_S3_SECRET_KEY": "s"})
    assert s.root == "s3://team/lakehouse"
    assert (s.s3.access_key_id, s.s3.secret_access_key, s.s3.endpoint_url) == ("k", "s", "https://s3.example")
    opts = Storage(s).delta_storage_options()
    assert opts and opts["AWS_ALLOW_HTTP"] == "false" and opts["AWS_ENDPOINT_URL"] == "https://s3.example"


def test_bad_settings_say_what_to_fix():
    with pytest.raises(ConfigError, match="OVH_S3_BUCKET"):
        Settings.from_env(env={"DATASET_STORAGE_BACKEND": "s3"})
    with pytest.raises(ConfigError, match="local"):
        Settings.from_env(env={"DATASET_STORAGE_BACKEND": "ftp"})
    with pytest.raises(ConfigError):
        normalize_root("gs://x")


def test_local_storage_roundtrip(local_root):
    st = Storage.from_env()
    st.write_bytes("a/b.txt", b"hello")
    assert st.exists("a/b.txt") and st.read_bytes("a/b.txt") == b"hello" and st.size("a/b.txt") == 5
    assert list(st.list("a")) == ["a/b.txt"]
    assert st.list_dirs("") == ["a"]


@pytest.mark.s3
def test_s3_storage_roundtrip(s3_root):
    st = Storage.from_env()
    assert st.is_s3
    st.write_bytes("x/y.json", b"{}")
    assert st.exists("x/y.json") and not st.exists("x/none")
    assert st.read_bytes("x/y.json") == b"{}"
    assert list(st.list("x")) == ["x/y.json"]
    assert st.list_dirs("") == ["x"]

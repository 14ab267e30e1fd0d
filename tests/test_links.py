"""The web addresses come from ckptfix/links.py alone: the package metadata, the schema's $id and the long
description (the README as the package index shows it) hold them as written there, and that page has no
relative link (there is no docs/ beside it on an index)."""

from __future__ import annotations

import re
import sys

import pytest

from ckptfix.api.schema import schema
from ckptfix.links import PROJECT_URLS, REPOSITORY, SCHEMA_ID, doc_url, file_url
from tests.helpers import ROOT


def test_addresses_are_built_from_the_repository():
    assert doc_url("exit-codes.md") == f"{REPOSITORY}/blob/main/docs/exit-codes.md"
    assert doc_url("trainers.md", "recipe") == f"{REPOSITORY}/blob/main/docs/trainers.md#recipe"
    assert file_url("LICENSE") == f"{REPOSITORY}/blob/main/LICENSE"
    assert all(url.startswith(REPOSITORY) for url in PROJECT_URLS.values())
    assert schema()["$id"] == SCHEMA_ID and SCHEMA_ID.startswith(REPOSITORY)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is new in 3.11")
def test_the_package_metadata_has_the_project_urls_and_the_license():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["urls"] == PROJECT_URLS
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()
    assert project["readme"]["file"] == "docs/long-description.md"


def test_the_long_description_has_only_absolute_links():
    text = (ROOT / "docs" / "long-description.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets and all(t.startswith(("https://", "http://", "#")) for t in targets), targets
    assert "constraints.txt -e" not in text, "the clone-only commands are left out of the index page"
    assert f"]({doc_url('exit-codes.md')})" in text

"""Where ckptfix lives on the web: the addresses ``--help``, the schema's ``$id`` and the package index page
point to, for a user who has the installed package and not the repository's ``docs/``.

The repository's address is not settled yet: ``REPOSITORY`` is a placeholder. It is set here only: after
changing it, run ``python docs/make_transcripts.py``, which rewrites what must hold it as text
(``pyproject.toml``'s ``[project.urls]``, the schema's ``$id``, the long description's links);
``tests/cli/test_docs.py`` fails while one of them is stale.
"""

from __future__ import annotations

__all__ = ["BRANCH", "PROJECT_URLS", "REPOSITORY", "SCHEMA_ID", "doc_url", "file_url"]

#: The project's repository (a placeholder until the project has a public home).
REPOSITORY = "https://github.com/OWNER/ckptfix"
#: The branch whose files the links show.
BRANCH = "main"
#: The ``$id`` of the ``--json`` documents' JSON Schema (``ckptfix schema`` prints it).
SCHEMA_ID = f"{REPOSITORY}/raw/{BRANCH}/ckptfix/schema/ckptfix.schema.json"


def file_url(path: str) -> str:
    """The web page of a repository file (``docs/usage.md``, ``docs/trainers.md#anchor``, ``LICENSE``)."""
    return f"{REPOSITORY}/blob/{BRANCH}/{path}"


def doc_url(page: str, anchor: str = "") -> str:
    """The web page of ``docs/<page>`` (``exit-codes.md``), at a heading's ``anchor`` when given."""
    return file_url(f"docs/{page}") + (f"#{anchor}" if anchor else "")


#: The package metadata's project URLs (``pyproject.toml``'s ``[project.urls]``, written from this).
PROJECT_URLS = {
    "Homepage": REPOSITORY,
    "Documentation": f"{REPOSITORY}#readme",
    "Source": REPOSITORY,
    "Issues": f"{REPOSITORY}/issues",
    "Changelog": file_url("CHANGELOG.md"),
}

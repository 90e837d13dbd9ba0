"""docs/deploy.md names only files that exist, and is linked from the README."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_repository_path_the_deploy_doc_names_exists():
    text = (ROOT / "docs" / "deploy.md").read_text()
    paths = set(re.findall(r"`((?:deploy|scripts|tests|docs)/[\w./-]+)`", text))
    paths |= set(re.findall(r"\b((?:deploy|scripts|tests)/[\w.-]+(?:/[\w.-]+)*)", text))
    assert "deploy/chains.yaml" in paths and "scripts/backup.sh" in paths
    missing = sorted(p for p in paths if not (ROOT / p.rstrip(".")).exists())
    assert not missing, f"docs/deploy.md names {missing}, which do not exist"


def test_the_readme_links_the_deploy_doc():
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()

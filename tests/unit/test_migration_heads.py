"""Which migrations a database still lacks, from its alembic_version rows (the package's own scripts).

The rows name the newest revision of each branch; a head that another head depends on is not among them
(alembic counts it as applied with its dependant), which is what :func:`version_rows` derives."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from platform_jobs.health import _scripts, missing_migrations


def revisions(value: str | tuple[str, ...] | list[str] | None) -> set[str]:
    return {value} if isinstance(value, str) else set(value or ())


def version_rows(scripts: ScriptDirectory) -> set[str]:
    """alembic_version after ``upgrade heads``: every head that no other head needs, directly or through a
    revision it depends on (0017 depends on the tenants branch's 0004, so 0004 is no row of its own)."""
    heads = set(scripts.get_heads())
    needed = {rev.revision for head in heads for rev in scripts.iterate_revisions(head, "base") if rev.revision != head}
    return heads - needed


def test_an_empty_database_lacks_every_head() -> None:
    heads = set(_scripts().get_heads())
    assert heads and missing_migrations(set()) == heads


def test_a_database_at_the_heads_lacks_nothing() -> None:
    assert missing_migrations(version_rows(_scripts())) == set()


def test_a_database_one_revision_behind_lacks_that_revision() -> None:
    scripts = _scripts()
    rows = version_rows(scripts)
    newest = max(rows)
    behind = (rows - {newest}) | revisions(scripts.get_revision(newest).down_revision)
    assert missing_migrations(behind) == {newest}


def test_a_revision_this_package_does_not_know_counts_as_missing_every_head() -> None:
    assert missing_migrations({"from_a_newer_release"}) == set(_scripts().get_heads())

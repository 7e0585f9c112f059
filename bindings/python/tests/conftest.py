"""Shared fixtures: a fresh database directory per test."""

import pytest

import lightning_db


@pytest.fixture
def path(tmp_path):
    """A directory for a new database."""
    return str(tmp_path / "db")


@pytest.fixture
def db(path):
    """An open database (no per-commit fsync, to keep the suite fast), closed afterwards."""
    database = lightning_db.Database(path, durability="none")
    yield database
    database.close()

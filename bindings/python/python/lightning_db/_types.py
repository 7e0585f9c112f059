"""Small result types returned by :class:`lightning_db.Database`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass(frozen=True)
class IntegrityProblem:
    """One problem an integrity check found, with where it is."""

    component: str
    file: str
    offset: Optional[int]
    check: str
    details: str
    repairable: bool


@dataclass(frozen=True)
class IntegrityReport:
    """What ``Database.check(level)`` verified and every problem it found.

    ``ok`` is true when no problem was found.
    """

    ok: bool
    level: str
    path: str
    components: List[str]
    files_checked: int
    tables_checked: int
    wal_segments_checked: int
    blocks_checked: int
    entries_checked: int
    records_checked: int
    bytes_checked: int
    problems: List[IntegrityProblem] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    elapsed_ms: int = 0

    @classmethod
    def _from_engine(cls, report: Dict[str, Any]) -> "IntegrityReport":
        """Builds the report from the engine's ``IntegrityReport`` (its serde form)."""
        problems = [IntegrityProblem(**p) for p in report.get("problems", [])]
        return cls(
            ok=bool(report["ok"]),
            level=str(report["level"]).lower(),
            path=report["path"],
            components=[str(c) for c in report.get("components", [])],
            files_checked=report["files_checked"],
            tables_checked=report["tables_checked"],
            wal_segments_checked=report["wal_segments_checked"],
            blocks_checked=report["blocks_checked"],
            entries_checked=report["entries_checked"],
            records_checked=report["records_checked"],
            bytes_checked=report["bytes_checked"],
            problems=problems,
            notes=list(report.get("notes", [])),
            elapsed_ms=report.get("elapsed_ms", 0),
        )

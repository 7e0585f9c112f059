# Hand-written type stubs for lightning_db; checked against the built module by
# `python -m mypy.stubtest lightning_db` (bindings/python/test.sh).

import os
from types import TracebackType
from typing import Any, Callable, final, Dict, Iterator, List, Optional, Tuple, Type, TypedDict, Union

from typing_extensions import Literal, TypeAlias, Unpack

from ._types import IntegrityProblem as IntegrityProblem
from ._types import IntegrityReport as IntegrityReport

__version__: str
__all__ = [
    "BulkLoad",
    "Database",
    "ERROR_CLASSES",
    "IOError",
    "IntegrityProblem",
    "IntegrityReport",
    "RangeIterator",
    "Snapshot",
    "Transaction",
    "WriteBatch",
    "__version__",
    "audit_verify",
    "decrypt_database",
    "detect_version",
    "encrypt_database",
    "migrate",
    "needs_migration",
    "AccessDenied",
    "AuditLogTampered",
    "AutoRecoveryFailed",
    "ChecksumMismatch",
    "CircuitBreakerOpen",
    "ConfigurationError",
    "CurrentFileInvalid",
    "DataCorruption",
    "DatabaseClosed",
    "DatabaseError",
    "DatabaseLocked",
    "DeadlockDetected",
    "DecryptionFailed",
    "EmptyKey",
    "EncryptionFailed",
    "Error",
    "InconsistentState",
    "InitializationFailed",
    "InsufficientResources",
    "IntegrityError",
    "IntegrityValidationFailed",
    "Internal",
    "InvalidArgument",
    "InvalidKeyMaterial",
    "IoError",
    "KeyNotFound",
    "KeyRotationFailed",
    "KeyTooLarge",
    "LockTimeout",
    "ManifestCorrupted",
    "MigrationFailed",
    "MigrationRequired",
    "PartialRecoveryFailure",
    "Poisoned",
    "QuarantineFailed",
    "RecoveryError",
    "RecoveryImpossible",
    "RecoveryTimeout",
    "ReliabilityError",
    "RepairFailed",
    "RollbackFailed",
    "SecurityError",
    "SequenceGap",
    "SetupError",
    "StorageFull",
    "TableFileMissing",
    "Timeout",
    "TransactionConflict",
    "UnsupportedFormatVersion",
    "ValueTooLarge",
    "WalCorrupted",
    "WalReplayFailed",
    "WrongKey",
]

#: Keys, values and bounds: ``bytes``, ``bytearray`` or ``memoryview`` (``str`` is a TypeError).
_Bytes: TypeAlias = Union[bytes, bytearray, memoryview]
_Path: TypeAlias = Union[str, "os.PathLike[str]"]
_Level: TypeAlias = Literal["basic", "standard", "comprehensive", "paranoid"]
#: The ``kind`` of an engine event, the first argument of ``on_event``.
_EventKind: TypeAlias = Literal[
    "flush_completed",
    "compaction_completed",
    "background_error",
    "corruption",
    "recovery_stage",
    "write_stall",
]
#: ``on_event(kind, info)``: ``info`` is the event as a dict, ``"kind"`` and its fields in
#: snake case (as the engine's ``Event.to_json()``), durations as ``*_ms`` floats.
_OnEvent: TypeAlias = Callable[[_EventKind, Dict[str, Any]], object]
#: ``on_progress(info)`` while a database opens: ``info`` has ``stage`` (``"lock"``,
#: ``"manifest"``, ``"log_replay"``, ``"flush_recovered"``, ``"verification"``,
#: ``"cleanup"``, ``"start"``, or ``None`` between stages), ``progress`` (percent, never falling), ``eta_seconds`` (or
#: ``None``), ``completed_stages``, ``complete`` and ``failed``.
_OnRecoveryProgress: TypeAlias = Callable[[Dict[str, Any]], object]

class _Config(TypedDict, total=False):
    cache_size: int
    write_buffer_size: int
    compression_enabled: bool
    durability: Literal["sync", "periodic", "none"]
    sync_interval_ms: int
    max_key_size: int
    max_value_size: int
    checksum_algorithm: Literal["xxh64", "crc32", "blake3"]
    integrity_validation_level: _Level
    mmap_reads: bool
    block_size: int
    bloom_bits_per_key: int
    memtable_index_min_versions: int
    fail_on_corruption: bool
    corruption_action: Literal["log", "halt", "repair", "quarantine"]
    deadlock_prevention_enabled: bool
    upgrade_format_on_open: bool
    enable_statistics: bool
    enable_audit_logging: bool
    audit_level: Literal["off", "minimal", "standard", "comprehensive"]
    enable_health_monitoring: bool
    health_check_interval: float
    health_check_timeout: float
    circuit_breaker_enabled: bool
    circuit_breaker_failure_threshold: int
    circuit_breaker_recovery_timeout: float
    retry_max_attempts: int
    enable_self_healing: bool
    auto_remediation_enabled: bool
    encryption_key: Optional[bytes]

class _Sla(TypedDict):
    max_read_latency_p99: float
    max_write_latency_p99: float
    max_error_rate: float
    min_availability: float
    min_cache_hit_rate: float

class _Bottleneck(TypedDict):
    kind: Literal[
        "low_cache_hit_rate", "write_stall", "tail_latency", "disk_nearly_full", "level0_backlog"
    ]
    evidence: str
    suggestion: str

class _PerformanceMetrics(TypedDict):
    """``Database.metrics()``: durations in float seconds, throughputs in operations per
    second over the last interval."""

    read_latency_p50: float
    read_latency_p95: float
    read_latency_p99: float
    write_latency_p50: float
    write_latency_p95: float
    write_latency_p99: float
    read_throughput: int
    write_throughput: int
    mixed_workload_throughput: int
    cache_hit_rate: float
    memory_usage: int
    disk_usage: int
    cpu_usage: float
    error_rate: float
    availability: float
    recovery_time: float
    interval: float
    operations: int
    latency_samples: int
    cache_lookups: int
    write_stall_time: float
    level0_files: int
    immutable_memtables: int
    disk_total: int
    disk_available: int
    databases: int
    sla: _Sla
    meets_sla: bool
    performance_score: float
    bottlenecks: List[_Bottleneck]

class _CheckStatus(TypedDict, total=False):
    status: Literal["healthy", "warning", "critical", "unknown"]
    message: str
    remediation: Optional[str]
    immediate_action: str

class _CheckReport(TypedDict):
    name: str
    criticality: Literal["critical", "high", "medium", "low"]
    status: _CheckStatus
    remediation: Optional[str]
    note: Optional[str]
    checked_at: Optional[float]
    duration: float

class _SelfCheck(TypedDict):
    name: str
    state: Literal["healthy", "warning", "critical"]
    message: str

class _EngineHealth(TypedDict):
    state: Literal["healthy", "warning", "critical"]
    checks: List[_SelfCheck]

class _HealthReport(TypedDict):
    """``Database.health()``: the worst check, each check, and the engine's self-checks."""

    state: Literal["healthy", "unknown", "warning", "critical"]
    checks: List[_CheckReport]
    rounds: int
    engine: Optional[_EngineHealth]

@final
class RangeIterator(Iterator[Any]):
    """A lazy iterator over keys, values or (key, value) pairs."""

    def __iter__(self) -> RangeIterator: ...
    def __next__(self) -> Any: ...
    def seek(self, key: _Bytes) -> None:
        """Moves to the first key at or after `key` (reverse: the last at or before it),
        within the iterator's bounds and view. Not on a transaction's iterator."""

@final
class Database:
    """An open Lightning DB database; safe to share between threads."""

    def __new__(
        cls,
        path: _Path,
        *,
        on_event: Optional[_OnEvent] = None,
        on_progress: Optional[_OnRecoveryProgress] = None,
        **config: Unpack[_Config],
    ) -> Database:
        """Opens (creating) the database; ``on_event(kind, info)``, when given, hears the
        engine's events on the engine's threads, starting with this open's recovery stages.
        ``on_progress(info)``, when given, hears this open's recovery as it advances, before
        the constructor returns and never afterwards. An exception either raises goes to
        ``sys.unraisablehook``."""
    @property
    def path(self) -> str: ...
    @property
    def format_version(self) -> str:
        """The database format the open database reads and writes ("v1", "v2")."""
    @property
    def encrypted(self) -> bool:
        """True when the database is encrypted at rest (opened with ``encryption_key=``)."""
    @property
    def key_generation(self) -> Optional[int]:
        """The current data key's generation (1 for a new encrypted database); ``None`` for a
        plain one."""
    @property
    def closed(self) -> bool: ...
    def recovery_state(self) -> Dict[str, Any]:
        """How this handle's open recovered (the keys ``on_progress`` gets, with
        ``failed_stages``, ``replayed_segments``, ``can_rollback``, ``elapsed_seconds``)."""
    def close(self) -> None: ...
    def __enter__(self) -> Database: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> bool: ...
    def put(self, key: _Bytes, value: _Bytes) -> None: ...
    def get(self, key: _Bytes, default: Any = None) -> Any:
        """The value (bytes) stored under key, or default."""
    def delete(self, key: _Bytes) -> bool: ...
    def __contains__(self, key: _Bytes, /) -> bool: ...
    def __getitem__(self, key: _Bytes, /) -> bytes: ...
    def __setitem__(self, key: _Bytes, value: _Bytes, /) -> None: ...
    def __delitem__(self, key: _Bytes, /) -> None: ...
    def __len__(self) -> int:
        """The number of keys: a full scan, O(n)."""
    def __iter__(self) -> Iterator[bytes]: ...
    def items(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[Tuple[bytes, bytes]]: ...
    def keys(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[bytes]: ...
    def values(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[bytes]: ...
    def write_batch(self) -> WriteBatch: ...
    def write(self, batch: WriteBatch) -> None: ...
    def bulk_load(self) -> BulkLoad: ...
    def transaction(
        self, pessimistic: bool = False, lock_timeout: Optional[float] = None
    ) -> Transaction: ...
    def snapshot(self) -> Snapshot: ...
    def config(self) -> Dict[str, Any]: ...
    def rotate_key(self) -> int:
        """Rotates the data key of an encrypted database; returns the new generation."""
    def rotate_key_now(self) -> Dict[str, Any]:
        """Rotates and re-seals every file: ``generation``, ``tables_rewritten``,
        ``retired_generations``."""
    def rewrap_key(self, new_key: bytes) -> None:
        """Re-wraps the data keys under ``new_key`` (32 bytes); it alone opens the database
        from then on."""
    def flush(self) -> None: ...
    def compact(self) -> None: ...
    def sync(self) -> None: ...
    def stats(self) -> Dict[str, Any]: ...
    def metrics(self) -> _PerformanceMetrics: ...
    def health(self) -> _HealthReport: ...
    def prometheus(self) -> str: ...
    def check(self, level: _Level = "standard") -> IntegrityReport: ...

@final
class WriteBatch:
    """Puts and deletes applied atomically by Database.write or on a clean `with` exit."""

    def put(self, key: _Bytes, value: _Bytes) -> None: ...
    def delete(self, key: _Bytes) -> None: ...
    def clear(self) -> None: ...
    def __len__(self) -> int: ...
    def __enter__(self) -> WriteBatch: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> bool: ...

@final
class BulkLoad:
    """An atomic, memory-bounded bulk load: finish() applies it, abort() discards it."""

    def put(self, key: _Bytes, value: _Bytes) -> None: ...
    def delete(self, key: _Bytes) -> None: ...
    def __len__(self) -> int: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...
    def __enter__(self) -> BulkLoad: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> bool: ...

@final
class Transaction:
    """Snapshot reads plus buffered writes, committed atomically."""

    def get(self, key: _Bytes, default: Any = None) -> Any: ...
    def put(self, key: _Bytes, value: _Bytes) -> None: ...
    def delete(self, key: _Bytes) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    @property
    def active(self) -> bool: ...
    def __enter__(self) -> Transaction: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> bool: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def items(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[Tuple[bytes, bytes]]: ...
    def keys(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[bytes]: ...
    def values(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[bytes]: ...

@final
class Snapshot:
    """A consistent read-only view of the database as of one moment."""

    @property
    def sequence(self) -> int: ...
    def get(self, key: _Bytes, default: Any = None) -> Any: ...
    def __contains__(self, key: _Bytes, /) -> bool: ...
    def __getitem__(self, key: _Bytes, /) -> bytes: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def items(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[Tuple[bytes, bytes]]: ...
    def keys(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[bytes]: ...
    def values(
        self,
        start: Optional[_Bytes] = None,
        stop: Optional[_Bytes] = None,
        prefix: Optional[_Bytes] = None,
        reverse: bool = False,
    ) -> Iterator[bytes]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Snapshot: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]] = None,
        exc_value: Optional[BaseException] = None,
        traceback: Optional[TracebackType] = None,
    ) -> bool: ...

# ----- format versions and migration -----

#: ``on_progress(info)``: ``info`` has ``step_index``, ``step_count``, ``step`` (what the
#: step does), ``phase`` (``"backup"``, ``"rewriting"``, ``"switching"``, ``"cleanup"``,
#: ``"rolling_back"``, ``"done"``), ``bytes_done`` and ``bytes_total``.
_OnProgress: TypeAlias = Callable[[Dict[str, Any]], object]

def detect_version(path: _Path) -> str:
    """The format version of the database in ``path`` ("v1", "v2"), read from its files
    without opening it. ``MigrationRequired`` for a format older than this build reads,
    ``UnsupportedFormatVersion`` for one newer."""

def needs_migration(path: _Path) -> bool:
    """Whether the database in ``path`` is in a format older than the newest."""

def migrate(
    path: _Path,
    to: Union[str, int, None] = None,
    *,
    dry_run: bool = False,
    checksum: Optional[Literal["xxh64", "crc32", "blake3"]] = None,
    compression: Optional[bool] = None,
    backup: Optional[_Path] = None,
    on_progress: Optional[_OnProgress] = None,
    key: Optional[bytes] = None,
) -> Dict[str, Any]:
    """Migrates the closed database in ``path`` to format ``to`` ("v1", "v2", "latest" or
    a number; default the newest), as ``lightning migrate`` does, and returns the report:
    ``path``, ``from``, ``to``, ``steps`` (each ``step``, ``bytes_rewritten``,
    ``tables_written``, ``files_removed``, ``seconds``), ``bytes_rewritten``, ``seconds``,
    ``warnings``, ``backup_dir``, ``dry_run``. With ``dry_run=True`` nothing changes: the
    report holds the plan's ``steps``, ``estimated_bytes`` and ``estimated_seconds`` after
    the safety check passed. ``checksum`` and ``compression`` add steps rewriting every
    table; ``backup`` copies the database into that (new) directory first. A failed step
    is rolled back (``MigrationFailed``; the database is exactly as before). ``key`` (32
    bytes) is an encrypted database's key: with it the ``checksum`` and ``compression``
    steps rewrite it and keep it encrypted (``to`` must then be the newest); without it an
    encrypted database raises ``InvalidArgument``."""

def encrypt_database(path: _Path, key: bytes) -> Dict[str, Any]:
    """Turns encryption at rest on for the closed, plain database in ``path``, as
    ``lightning migrate PATH --encrypt`` does: every table, the log and the manifest are
    rewritten sealed under a new key file wrapped by ``key`` (32 bytes; otherwise
    ``InvalidKeyMaterial``), switched atomically. From then on the database opens only
    with ``encryption_key=key``. Returns the report as :func:`migrate` does, with
    ``encrypted_before`` false and ``encrypted_after`` true. An encrypted database raises
    ``InvalidArgument``; any failure leaves the database as it was."""

def decrypt_database(path: _Path, key: bytes) -> Dict[str, Any]:
    """Turns encryption at rest off for the closed, encrypted database in ``path`` whose
    key is ``key``, as ``lightning migrate PATH --decrypt`` does: every file is read with
    the key and rewritten in the clear, and the key file removed, switched atomically. A
    wrong key raises ``WrongKey`` and changes nothing; a plain database raises
    ``InvalidArgument``. Returns the report (``encrypted_after`` false)."""

# ----- the audit log -----

def audit_verify(path: _Path, key: Optional[bytes] = None) -> Dict[str, Any]:
    """Verifies the audit log in ``path`` (an audit log folder, or a database folder keeping
    one in ``audit/`` with ``enable_audit_logging``) without writing anything, and returns
    the report: ``intact``, ``files``, ``entries``, ``first_seq``, ``last_seq``,
    ``last_hash``, ``sealed``, ``authenticated``, ``interrupted``, ``stale_files`` and
    ``tampering`` (``None``, or a dict with ``kind`` — "Edited", "Removed", "Inserted",
    "Reordered", "TruncatedTail", "FileDeleted", "StateMismatch" — ``seq``, ``file``,
    ``line`` and ``details``). ``key`` (32 bytes) authenticates a sealed log's entries.
    No log at ``path`` raises ``InvalidArgument``."""

# ----- exceptions: generated at import from the engine's code table -----

class Error(Exception):
    """Base class of every Lightning DB error."""

    code: int
    name: str
    retryable: bool
    critical: bool
    suggested_action: Optional[str]

DatabaseError = Error

#: Exception class by the engine's numeric code.
ERROR_CLASSES: Dict[int, Type[Error]]

class SecurityError(Error):
    """Security failures (codes 201-249)."""

class IntegrityError(Error):
    """Stored data failed a check and was not returned (codes 250-299)."""

class ReliabilityError(Error):
    """Deadlocks, circuit breaker, auto-recovery and timeouts (codes 3xx)."""

class RecoveryError(Error):
    """Crash recovery and repair failures (codes 4xx)."""

class SetupError(Error):
    """Configuration and resource failures (codes 5xx)."""

class KeyNotFound(Error, KeyError):
    """key not found (code 101 KEY_NOT_FOUND)."""

class ValueTooLarge(Error, ValueError):
    """value larger than the configured maximum value size (code 102 VALUE_TOO_LARGE)."""

class KeyTooLarge(Error, ValueError):
    """key larger than the configured maximum key size (code 103 KEY_TOO_LARGE)."""

class EmptyKey(Error, ValueError):
    """keys must be at least one byte long (code 104 EMPTY_KEY)."""

class TransactionConflict(Error):
    """transaction conflicted with a concurrent commit; retry it (code 105 TRANSACTION_CONFLICT)."""

class LockTimeout(Error, TimeoutError):
    """timed out waiting for a key lock; retry the transaction (code 106 LOCK_TIMEOUT)."""

class DatabaseClosed(Error):
    """operation on a closed database handle (code 107 DATABASE_CLOSED)."""

class InvalidArgument(Error, ValueError):
    """invalid argument (code 108 INVALID_ARGUMENT)."""

class IoError(Error, OSError):
    """input/output error (code 109 IO_ERROR)."""

IOError = IoError

class DatabaseLocked(Error):
    """database is locked by another process or handle (code 110 DATABASE_LOCKED)."""

class Poisoned(Error):
    """an earlier write or sync failed; the database refuses writes until reopened (code 111 POISONED)."""

class Internal(Error):
    """internal error (a bug) (code 112 INTERNAL)."""

class StorageFull(Error, OSError):
    """no space left on the device or disk quota exceeded (code 113 STORAGE_FULL)."""

class EncryptionFailed(SecurityError):
    """encryption failed (code 201 ENCRYPTION_FAILED)."""

class DecryptionFailed(SecurityError):
    """decryption or authentication of stored data failed (code 202 DECRYPTION_FAILED)."""

class WrongKey(SecurityError):
    """wrong encryption key (code 203 WRONG_KEY)."""

class KeyRotationFailed(SecurityError):
    """encryption key rotation failed (code 204 KEY_ROTATION_FAILED)."""

class AccessDenied(SecurityError):
    """access denied (code 205 ACCESS_DENIED)."""

class AuditLogTampered(SecurityError):
    """audit log hash chain is broken: entries were edited, removed or reordered (code 206 AUDIT_LOG_TAMPERED)."""

class InvalidKeyMaterial(SecurityError):
    """encryption key material is malformed (code 207 INVALID_KEY_MATERIAL)."""

class DataCorruption(IntegrityError):
    """stored data is corrupted (code 250 DATA_CORRUPTION)."""

class IntegrityValidationFailed(IntegrityError):
    """an integrity validation check failed (code 251 INTEGRITY_VALIDATION_FAILED)."""

class ChecksumMismatch(IntegrityError):
    """checksum mismatch in a stored file (code 252 CHECKSUM_MISMATCH)."""

class DeadlockDetected(ReliabilityError):
    """deadlock detected between transactions; retry (code 301 DEADLOCK_DETECTED)."""

class CircuitBreakerOpen(ReliabilityError):
    """circuit breaker is open; retry later (code 302 CIRCUIT_BREAKER_OPEN)."""

class AutoRecoveryFailed(ReliabilityError):
    """automatic recovery gave up after its retries (code 303 AUTO_RECOVERY_FAILED)."""

class Timeout(ReliabilityError, TimeoutError):
    """operation timed out (code 304 TIMEOUT)."""

class RecoveryImpossible(RecoveryError):
    """the database cannot be recovered automatically (code 401 RECOVERY_IMPOSSIBLE)."""

class WalCorrupted(RecoveryError):
    """write-ahead log is corrupted (code 402 WAL_CORRUPTED)."""

class PartialRecoveryFailure(RecoveryError):
    """recovery failed part-way through (code 403 PARTIAL_RECOVERY_FAILURE)."""

class ManifestCorrupted(RecoveryError):
    """manifest is corrupted (code 404 MANIFEST_CORRUPTED)."""

class CurrentFileInvalid(RecoveryError):
    """CURRENT file is missing, empty or names a missing manifest (code 405 CURRENT_FILE_INVALID)."""

class TableFileMissing(RecoveryError):
    """a table file named by the manifest is missing (code 406 TABLE_FILE_MISSING)."""

class UnsupportedFormatVersion(RecoveryError):
    """on-disk format version is newer than this build supports (code 407 UNSUPPORTED_FORMAT_VERSION)."""

class SequenceGap(RecoveryError):
    """log replay found a gap in sequence numbers (code 408 SEQUENCE_GAP)."""

class WalReplayFailed(RecoveryError):
    """replaying a write-ahead log segment failed (code 409 WAL_REPLAY_FAILED)."""

class RepairFailed(RecoveryError):
    """repair failed (code 410 REPAIR_FAILED)."""

class QuarantineFailed(RecoveryError):
    """a corrupted file could not be moved to quarantine (code 411 QUARANTINE_FAILED)."""

class RollbackFailed(RecoveryError):
    """rolling back a recovery or migration stage failed (code 412 ROLLBACK_FAILED)."""

class RecoveryTimeout(RecoveryError, TimeoutError):
    """a recovery stage timed out (code 413 RECOVERY_TIMEOUT)."""

class InconsistentState(RecoveryError):
    """files on disk disagree with the manifest (code 414 INCONSISTENT_STATE)."""

class MigrationFailed(RecoveryError):
    """a format migration step failed (code 415 MIGRATION_FAILED)."""

class MigrationRequired(RecoveryError):
    """the database format is older than this build reads; migrate it first (code 416 MIGRATION_REQUIRED)."""

class ConfigurationError(SetupError):
    """invalid configuration (code 501 CONFIGURATION_ERROR)."""

class InsufficientResources(SetupError):
    """not enough memory, disk or file handles (code 502 INSUFFICIENT_RESOURCES)."""

class InitializationFailed(SetupError):
    """database initialization failed (code 503 INITIALIZATION_FAILED)."""


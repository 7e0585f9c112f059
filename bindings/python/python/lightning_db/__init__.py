"""Lightning DB: an embedded, ordered, durable key-value database.

>>> import lightning_db, tempfile
>>> with lightning_db.Database(tempfile.mkdtemp()) as db:
...     db[b"hello"] = b"world"
...     db.get(b"hello")
b'world'

Keys and values are ``bytes``, ``bytearray`` or ``memoryview``; values come back as
``bytes``. Errors are :class:`Error` subclasses generated from the engine's code table
(``TransactionConflict``, ``KeyTooLarge``, ``DatabaseClosed``, ...), each carrying
``.code``, ``.name``, ``.retryable``, ``.critical`` and ``.suggested_action``.

Format versions: :func:`detect_version`, :func:`needs_migration` and :func:`migrate`
(a closed database, as ``lightning migrate`` does); ``Database.format_version``.
Encryption at rest turned on or off later: :func:`encrypt_database` and
:func:`decrypt_database`.
"""

from . import _lightning
from ._lightning import (
    BulkLoad,
    Database,
    DatabaseError,
    Error,
    RangeIterator,
    Snapshot,
    Transaction,
    WriteBatch,
    __version__,
    audit_verify,
    decrypt_database,
    detect_version,
    encrypt_database,
    migrate,
    needs_migration,
)
from ._types import IntegrityProblem, IntegrityReport

#: Every exception class, generated at import from the engine's code table, by name.
_EXCEPTIONS = {
    name: obj
    for name, obj in vars(_lightning).items()
    if isinstance(obj, type) and issubclass(obj, Error)
}
globals().update(_EXCEPTIONS)

#: ``IoError`` under the name Python's own I/O error once had, for code that spells it so.
IOError = IoError  # noqa: A001 (shadows the builtin alias on purpose, inside this package)

#: Exception class by the engine's numeric code (codes this build does not know raise
#: ``Error`` itself).
ERROR_CLASSES = {
    cls.code: cls for cls in _EXCEPTIONS.values() if isinstance(getattr(cls, "code", None), int) and cls.code >= 100
}

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
    *sorted(_EXCEPTIONS),
]

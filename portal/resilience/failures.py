"""What counts as a dependency failing, as opposed to one request's own problem.

The circuit breakers trust these three predicates and nothing else. An error caused by a
request's content or cost (a file name the file system refuses, a statement cancelled by its
timeout, a unique key taken by a concurrent write, a missing object) is that request's problem:
it gets its own answer and never counts toward opening a breaker that every tenant shares.
"""

from __future__ import annotations

import errno
import sqlite3

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from django.db import InterfaceError, OperationalError
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Errno values that say the storage itself is unwell; anything else (a name too long, a missing
# file, a file that exists) is an answer about one request's object.
STORAGE_ERRNOS = frozenset(
    {
        errno.EIO,
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.ESTALE,
        errno.ENOTCONN,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
    }
)
# S3 error codes that mean every request would fail the same way (outage, throttling, bad
# credentials or bucket); per-object codes such as NoSuchKey or KeyTooLongError do not.
STORAGE_CLIENT_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "NoSuchBucket",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "Throttling",
        "ThrottlingException",
    }
)

# PostgreSQL SQLSTATE classes that mean the server cannot serve anyone: connection exceptions,
# operator intervention (shutdown), insufficient resources, system errors, internal errors.
OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57", "58", "XX"})
# ...except these members, which are about one statement's own cost, however a client shaped
# it: query_canceled (statement_timeout or a cancel request) in class 57; out_of_memory (its
# sorts and hashes past what the server grants one query) and configuration_limit_exceeded
# (temp_file_limit: its spill to disk) in class 53; and idle_session_timeout (a connection
# idle too long, closed by the server; the next request gets a fresh one) in class 57.
# disk_full and too_many_connections stay outages: they stop every request alike.
REQUEST_SQLSTATES = frozenset({"57014", "53200", "53400", "57P05"})
# Of those, the ones that stopped a statement for its cost (not a stale connection).
COSTLY_SQLSTATES = frozenset({"57014", "53200", "53400"})
# SQLite's OperationalError messages that are about contention, not a broken database file.
SQLITE_REQUEST_MESSAGES = ("database is locked", "database table is locked", "interrupted")


def _sqlstate(exc: BaseException) -> str | None:
    for candidate in (exc, exc.__cause__):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return None


def is_database_outage(exc: BaseException) -> bool:
    """True when `exc` says the database is unreachable or unable to serve anyone."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if isinstance(cause, sqlite3.OperationalError) or isinstance(exc, sqlite3.OperationalError):
        message = str(cause or exc).lower()
        return not any(part in message for part in SQLITE_REQUEST_MESSAGES)
    code = _sqlstate(exc)
    if code is None:
        # No SQLSTATE: the driver never got an answer (refused, reset, closed, timed out).
        return True
    if code in REQUEST_SQLSTATES:
        return False
    return code[:2] in OUTAGE_SQLSTATE_CLASSES


def is_statement_cancelled(exc: BaseException) -> bool:
    """A statement stopped for its own cost (its timeout, its memory, its temporary files):
    the request was too expensive, nothing is down."""
    return isinstance(exc, OperationalError) and _sqlstate(exc) in COSTLY_SQLSTATES


def is_storage_failure(exc: BaseException) -> bool:
    """True when `exc` says the file storage is failing for everyone."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or str(error.get("Code", "")) in STORAGE_CLIENT_CODES
    if isinstance(exc, (BotoConnectionError, NoCredentialsError, PartialCredentialsError)):
        return True
    if isinstance(exc, BotoCoreError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in STORAGE_ERRNOS
    return False


def is_cache_failure(exc: BaseException) -> bool:
    """True when `exc` says the shared cache (Redis) cannot be reached."""
    return isinstance(
        exc, (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError, ConnectionError)
    ) or (isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError))

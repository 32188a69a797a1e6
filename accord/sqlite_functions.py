"""SQL functions of PostgreSQL's that SQLite lacks and Accord's SQL uses (the
export's, through accord/sql.py's fragments), registered on every SQLite
connection (the embedded mode) when it opens.

* ``md5(text)``: PostgreSQL's md5, the lowercase hex digest of the text's
  UTF-8 bytes (NULL stays NULL), so hash-ordered SQL (label buckets, split
  ranks) gives the same answer on both databases.
* ``accord_json_time(text)``: a stored time as PostgreSQL writes a
  timestamptz in JSON (``to_json``): ISO 8601 with "T", microseconds without
  trailing zeros (none when zero), "+00:00". SQLite keeps times as text in
  two shapes — the ORM's naive UTC "2026-01-02 03:04:05.120000" and raw SQL
  parameters' "2026-01-02 03:04:05.120000+00:00" — so exported times are
  the same bytes whichever database wrote them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC

from django.utils.dateparse import parse_datetime

from .sql import dialect


def md5(text: str | bytes | None) -> str | None:
    if text is None:
        return None
    data = text.encode() if isinstance(text, str) else bytes(text)
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def json_time(text: str | None) -> str | None:
    if text is None:
        return None
    moment = parse_datetime(str(text))
    if moment is None:
        raise ValueError(f"not a stored time: {text!r}")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    whole = moment.replace(microsecond=0, tzinfo=None).isoformat()
    fraction = f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else ""
    return f"{whole}{fraction}+00:00"


def functions_register(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: adds the functions above to a new
    SQLite connection; other databases are left alone."""
    if dialect(connection).is_postgresql:
        return
    raw = connection.connection
    raw.create_function("md5", 1, md5, deterministic=True)
    raw.create_function("accord_json_time", 1, json_time, deterministic=True)

"""The registry of export formats: one module per format, one instance each.

The exporter looks a format up by key (``get``; KeyError → 400 "unknown
format") and never branches on the key itself.
"""

from __future__ import annotations

from .base import ExportOptions, Format, GoldRow, Writer
from .chat import Chat
from .csv import Csv
from .hf import HuggingFace
from .jsonl import Jsonl
from .parquet import Parquet
from .preference import Preference
from .raw import Raw

FORMATS: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.key in FORMATS:
        raise ValueError(f"export format {fmt.key!r} is registered twice")
    FORMATS[fmt.key] = fmt
    return fmt


def get(key: str) -> Format:
    """The format registered under ``key``; KeyError when there is none."""
    return FORMATS[key]


def keys() -> list[str]:
    return list(FORMATS)


for _format in (Jsonl(), Csv(), Parquet(), HuggingFace(), Chat(), Preference(), Raw()):
    register(_format)

__all__ = ["FORMATS", "ExportOptions", "Format", "GoldRow", "Writer", "get", "keys", "register"]

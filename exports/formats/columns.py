"""A Parquet row group's columns, packed while the group fills
(formats/parquet.py), so that a waiting group costs a few MB instead of
about 1 KB of Python objects per row.

A string column goes into the buffers of an Arrow string array (UTF-8
bytes, compressed in blocks as they fill; int32 offsets; validity), an
integer column into machine integers; only the group being written is
unpacked, straight into its arrays' buffers. Columns of other types (lists,
objects, floats), and any value a packed column cannot hold, stay Python
values that pa.array converts, or refuses, at the flush, as it would the
whole group. The packed columns never call pa.array, whose first call
imports pandas when it is installed (about 50 MB) to see whether its input
is a pandas object.
"""

from __future__ import annotations

import mmap
from array import array
from itertools import accumulate, pairwise, repeat
from operator import is_not

import numpy as np
import pyarrow as pa

# A string column's bytes are compressed once this many wait. The codec
# only packs memory; it never touches the file.
BLOCK_BYTES = 256 * 1024
PACKING = pa.Codec("zstd", compression_level=1)
INT32_MAX = 2**31 - 1


class _Values:
    """A column as Python values, converted by pa.array at the flush."""

    def __init__(self, values: list | None = None) -> None:
        self.values = [] if values is None else values

    def extend(self, values: list) -> Column:
        self.values += values
        return self

    def python(self) -> list:
        return self.values

    def array(self, name: str, kind: pa.DataType) -> pa.Array:
        return _array(name, self.values, kind)


class Strings:
    """A string column packed as an Arrow string array's buffers: UTF-8
    bytes end to end (compressed in blocks as they fill), int32 offsets, and
    once a null comes a byte per row for validity. ``utf8``: the values are
    UTF-8 bytes already (the provenance, as orjson makes it)."""

    def __init__(self, *, utf8: bool = False) -> None:
        self.utf8 = utf8
        self.blocks: list[tuple[pa.Buffer, int]] = []  # compressed, and its size
        self.tail = bytearray()
        self.offsets = array("i", [0])
        self.valid: bytearray | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def extend(self, values: list) -> Column:
        # Whole lists at a time, in C (join, encode, map): a loop over the
        # values in Python would cost more than the rest of the writer.
        nulls = 0
        if self.utf8:
            strings, data = values, b"".join(values)
        else:
            try:
                strings, text = values, "".join(values)
            except TypeError:  # a null, or a value that is no string
                nulls = values.count(None)
                if nulls == len(values):
                    return self._nulls(len(values))
                strings = [v if v is not None else "" for v in values] if nulls else values
                try:
                    text = "".join(strings)
                except TypeError:
                    return self._unpacked(values)
            try:
                data = text.encode()
            except UnicodeEncodeError:  # a lone surrogate
                return self._unpacked(values)
            if len(data) != len(text):  # not all ASCII: sizes in UTF-8
                strings = [v.encode() for v in strings]
        start = self.offsets[-1]
        if start + len(data) > INT32_MAX:
            return self._unpacked(values)
        ends = array("i", list(accumulate(map(len, strings), initial=start)))
        self.offsets[-1:] = ends
        if nulls:
            self._valid(len(values)).extend(map(is_not, values, repeat(None)))
        elif self.valid is not None:
            self.valid += b"\x01" * len(values)
        self._add(data)
        return self

    def _nulls(self, count: int) -> Strings:
        self.offsets += array("i", [self.offsets[-1]]) * count
        self._valid(count).extend(bytes(count))
        return self

    def _valid(self, added: int) -> bytearray:
        """The validity bytes, made at the first null: a 1 for each row
        before the ``added`` ones just packed."""
        if self.valid is None:
            self.valid = bytearray(b"\x01") * (len(self) - added)
        return self.valid

    def _add(self, data: bytes) -> None:
        if not self.tail and len(data) >= BLOCK_BYTES:
            self.blocks.append((_compressed(data), len(data)))
            return
        self.tail += data
        if len(self.tail) >= BLOCK_BYTES:
            self.blocks.append((_compressed(self.tail), len(self.tail)))
            self.tail = bytearray()

    def _unpacked(self, values: list) -> _Values:
        """The column as Python values from here on (pa.array then converts
        or refuses them at the flush, as it always did)."""
        if self.utf8:
            values = [v.decode() if type(v) is bytes else v for v in values]
        return _Values(self.python()).extend(values)

    def _data(self) -> bytearray | mmap.mmap:
        # A map of its own goes back to the system as soon as the array is
        # dropped. A malloc'd buffer this size would not, after the first:
        # freeing that one raises glibc's mmap threshold, so the next ones
        # come from the heap, which keeps them.
        data = mmap.mmap(-1, self.offsets[-1]) if self.offsets[-1] else bytearray()
        start = 0
        for block, size in self.blocks:
            data[start : start + size] = PACKING.decompress(block, decompressed_size=size)
            start += size
        data[start:] = self.tail
        return data

    def python(self) -> list:
        data = self._data()
        values = [data[a:b].decode() for a, b in pairwise(self.offsets)]
        if self.valid is not None:
            values = [v if ok else None for v, ok in zip(values, self.valid, strict=True)]
        return values

    def array(self, name: str, kind: pa.DataType) -> pa.Array:
        validity = None
        if self.valid is not None:
            bits = np.packbits(np.frombuffer(self.valid, dtype=np.uint8), bitorder="little")
            validity = pa.py_buffer(bits)
        buffers = [validity, pa.py_buffer(self.offsets), pa.py_buffer(self._data())]
        return pa.Array.from_buffers(pa.string(), len(self), buffers)


def _compressed(data: bytes | bytearray) -> pa.Buffer:
    """``data`` compressed, in a buffer of Arrow's pool of its own size. (The
    codec's output buffer keeps the input's size; and blocks waiting for
    their group in the heap Python allocates from scatter through it, so it
    cannot shrink: at a million records that cost some 20 MB.)"""
    out = PACKING.compress(data)
    block = pa.allocate_buffer(out.size)
    memoryview(block).cast("B")[:] = memoryview(out).cast("B")
    return block


class _Ints:
    """An int64 column packed as machine integers."""

    def __init__(self) -> None:
        self.data = array("q")

    def extend(self, values: list) -> Column:
        if set(map(type, values)) <= {int}:  # not None, bools or floats
            try:
                self.data += array("q", values)
                return self
            except OverflowError:
                pass
        return _Values(self.python()).extend(values)

    def python(self) -> list:
        return self.data.tolist()

    def array(self, name: str, kind: pa.DataType) -> pa.Array:
        return pa.Array.from_buffers(pa.int64(), len(self.data), [None, pa.py_buffer(self.data)])


Column = _Values | Strings | _Ints


def column_for(name: str, kind: pa.DataType) -> Column:
    if kind == pa.string():
        return Strings(utf8=name == "provenance")
    if kind == pa.int64():
        return _Ints()
    return _Values()


def _array(name: str, values: list, kind: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise ValueError(f"column {name!r} does not fit {kind}: {exc}") from exc

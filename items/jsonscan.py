"""A look at JSON text before a parser gets it, in constant memory.

JSON parsers allocate per level of nesting (ijson's item builder keeps a
prefix per level: memory grows with the square of the depth, 21 GB for a
200 KB file nested 100,000 deep), and ijson's C backend turns a lone
surrogate escape such as ``\\ud800`` into ``?`` or fails the whole file.
``JsonScanner`` follows the text as it is read, in pieces, and refuses it
before a parser sees the level that is too deep; it also marks the items
with a lone surrogate (and hands the parser ``\\ufffd`` in its place, so the
parser reads on and the item is reported instead of mangled).

The scan is vectorised: ``bytes.translate`` and regular expressions drop
everything but the structure (C speed), numpy follows the few bytes left
(brackets, commas, line ends). It costs about 3 ms a megabyte, about what
ijson's C parser takes for the same bytes, 1 µs an item of an import that
takes 25-40 µs an item. State between pieces is a handful of numbers and a
few dozen held-back bytes (an escape or a surrogate pair cut in two).
"""

from __future__ import annotations

import re

import numpy as np

# The escapes that matter to structure: an escaped quote or backslash.
# (Matched from the left, a run of backslashes pairs up as JSON reads it.)
_ESCAPE = re.compile(rb'\\[\\"]')
_BACKSLASH_PAIR = re.compile(rb"\\\\")
# Every byte but quotes, brackets, commas and line ends, dropped before
# strings are. (A line end inside a string is not JSON: the parser fails
# there, so line ends counted outside strings number the lines well enough.)
_NOT_TOKEN = bytes(b for b in range(256) if b not in b'"[]{},\n')
_STRING = re.compile(rb'"[^"]*"')
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}")
_SURROGATE_PAIR = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")
# A surrogate pair is 12 bytes: an escape that starts this close to the end
# of a piece may be cut, so the scan waits for the next piece.
_HOLD_BACK = 24

_STEP = np.zeros(256, dtype=np.int64)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1
_QUOTE, _COMMA = ord('"'), ord(",")


class JsonLimitError(ValueError):
    """The text goes past a limit; ``line`` is its line in the text (from
    1), ``item`` the top-level array's item it is in (0 when not counted)."""

    def __init__(self, reason: str, *, line: int, item: int):
        super().__init__(reason)
        self.reason, self.line, self.item = reason, line, item


class JsonScanner:
    """Follows one JSON text fed in pieces (``feed``, then ``feed(b"",
    final=True)``) and returns the bytes a parser may read.

    ``max_depth``: arrays and objects may nest this deep (the outermost
    counts as one). ``items``: the text is a top-level array whose items are
    counted; each may take at most ``max_item_bytes``, and items holding a
    lone surrogate are listed in ``bad_items`` (item number → reason) and
    get U+FFFD in the bytes returned. Raises ``JsonLimitError``.
    """

    def __init__(self, *, max_depth: int, items: bool = False, max_item_bytes: int = 0):
        self.max_depth = max_depth
        self.items = items
        self.max_item_bytes = max_item_bytes
        self.bad_items: dict[int, str] = {}
        self.depth = 0
        self.in_string = False
        self.lines = 0  # newlines before the current piece
        self.item = 1  # the top-level item being read (items=True)
        self.item_bytes = 0  # an upper bound of the current item's size
        self._held = b""

    def feed(self, data: bytes, *, final: bool = False) -> bytes:
        window = self._held + data if self._held else data
        cut = len(window) if final else _clean_cut(window)
        if cut < len(window):
            window, self._held = window[:cut], window[cut:]
        else:
            self._held = b""
        if not window:
            return b""
        if self.items and b"\\u" in window and _SURROGATE.search(window):
            window = self._mark_lone_surrogates(window)
        self._follow(window)
        return window

    # --- the common path -------------------------------------------------------------

    def _follow(self, window: bytes) -> None:
        plain = _ESCAPE.sub(b"__", window) if b"\\" in window else window
        tokens = plain.translate(None, _NOT_TOKEN)
        depth, in_string = self.depth, self.in_string
        if in_string:
            close = tokens.find(b'"')
            if close < 0:  # the whole piece is inside one string
                self._count_item_bytes(len(window), 0)
                return
            tokens, in_string = tokens[close + 1 :], False
        # Strings are now quotes around nothing or around brackets, commas
        # (and line ends, which a string cannot hold). Dropping every "" first is safe: it is an empty string, or
        # the end of one string and the start of the next, which merge.
        tokens = _STRING.sub(b"", tokens.replace(b'""', b""))
        opening = tokens.find(b'"')  # a string that goes on in the next piece
        if opening >= 0:
            tokens, in_string = tokens[:opening], True
        boundaries = 0
        if tokens:
            codes = np.frombuffer(tokens, dtype=np.uint8)
            levels = np.cumsum(_STEP[codes]) + depth
            if int(levels.max()) > self.max_depth:
                self._refuse_depth(window, plain)
            if self.items:
                boundaries = int(np.count_nonzero((codes == _COMMA) & (levels == 1)))
            depth = int(levels[-1])
        self.depth, self.in_string = depth, in_string
        self.lines += tokens.count(b"\n")
        self.item += boundaries
        self._count_item_bytes(len(window), boundaries)

    def _count_item_bytes(self, size: int, boundaries: int) -> None:
        if not self.items:
            return
        # After an item boundary the piece's size is still an upper bound of
        # the new item's bytes so far: a piece is at most a read's size.
        self.item_bytes = size if boundaries else self.item_bytes + size
        if self.max_item_bytes and self.depth >= 1 and self.item_bytes > self.max_item_bytes:
            raise JsonLimitError(
                f"larger than {self.max_item_bytes:,} bytes",
                line=self.lines + 1,
                item=self.item,
            )

    # --- the rare paths: where exactly ---------------------------------------------------

    def _levels(self, plain: bytes):
        """Per byte of ``plain`` (escapes neutralised): the nesting level
        after it, and whether it is structure (outside strings)."""
        codes = np.frombuffer(plain, dtype=np.uint8)
        inside = (np.cumsum(codes == _QUOTE) + int(self.in_string)) % 2 == 1
        outside = ~inside & (codes != _QUOTE)
        levels = np.cumsum(np.where(outside, _STEP[codes], 0)) + self.depth
        return codes, levels, outside

    def _where(self, window: bytes, plain: bytes, position: int, codes, levels, outside):
        line = self.lines + window.count(b"\n", 0, position) + 1
        item = 0
        if self.items:
            before = slice(0, position)
            item = self.item + int(
                np.count_nonzero(
                    (codes[before] == _COMMA) & outside[before] & (levels[before] == 1)
                )
            )
        return line, item

    def _refuse_depth(self, window: bytes, plain: bytes) -> None:
        codes, levels, outside = self._levels(plain)
        position = int(np.argmax(levels > self.max_depth))
        line, item = self._where(window, plain, position, codes, levels, outside)
        raise JsonLimitError(
            f"nested more than {self.max_depth - int(self.items)} levels deep",
            line=line,
            item=item,
        )

    def _mark_lone_surrogates(self, window: bytes) -> bytes:
        # Pair the backslashes first, so ``\\ud800`` (a backslash, then
        # text) is not taken for an escape; then drop the well-formed pairs.
        escapes = _SURROGATE_PAIR.sub(b"_" * 12, _BACKSLASH_PAIR.sub(b"__", window))
        lone = [m.start() for m in _SURROGATE.finditer(escapes)]
        if not lone:
            return window
        plain = _ESCAPE.sub(b"__", window)
        codes, levels, outside = self._levels(plain)
        fixed = bytearray(window)
        for position in lone:
            _, item = self._where(window, plain, position, codes, levels, outside)
            escape = window[position : position + 6].decode("ascii")
            self.bad_items.setdefault(
                item, f"invalid JSON: {escape} is half of a surrogate pair, not a character"
            )
            fixed[position : position + 6] = b"\\ufffd"
        return bytes(fixed)


def _clean_cut(window: bytes) -> int:
    """Where to end this piece so that no escape, nor a surrogate pair, is
    cut in two: before the last run of backslashes near the end, at an even
    offset in the run (where no escape is under way)."""
    near_end = window.find(b"\\", max(0, len(window) - _HOLD_BACK))
    if near_end < 0:
        return len(window)
    cut = _escape_start(window, near_end)
    if cut >= 6 and _HIGH_SURROGATE.fullmatch(window, cut - 6, cut):
        cut = _escape_start(window, cut - 6)
    return cut


def _escape_start(window: bytes, backslash: int) -> int:
    run_start = len(window[:backslash].rstrip(b"\\"))
    return run_start + 2 * ((backslash - run_start) // 2)


def nesting_exceeds(text: bytes, max_depth: int) -> JsonLimitError | None:
    """The error if the JSON ``text`` nests deeper than ``max_depth``."""
    scanner = JsonScanner(max_depth=max_depth)
    piece = 1 << 20
    try:
        for start in range(0, len(text), piece):
            scanner.feed(text[start : start + piece])
        scanner.feed(b"", final=True)
    except JsonLimitError as exc:
        return exc
    return None


class ScannedReader:
    """A binary reader of ``source`` through ``scanner`` (what ijson reads)."""

    def __init__(self, source, scanner: JsonScanner, *, piece: int = 64 * 1024):
        self.source, self.scanner, self.piece = source, scanner, piece
        self._ready = memoryview(b"")
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._ready and not self._done:
            data = self.source.read(self.piece)
            if data:
                self._ready = memoryview(self.scanner.feed(data))
            else:
                self._ready = memoryview(self.scanner.feed(b"", final=True))
                self._done = True
        if size is None or size < 0 or size >= len(self._ready):
            out, self._ready = self._ready, memoryview(b"")
        else:
            out, self._ready = self._ready[:size], self._ready[size:]
        return out.tobytes()

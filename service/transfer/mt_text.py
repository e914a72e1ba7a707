"""Reading a Movable Type export's text safely: which encoding, and one line at a time.

Japanese services wrote these files in UTF-8 (Hatena Blog, with or without a byte-order
mark), Shift_JIS (FC2, JUGEM, Seesaa, older Cocolog) or EUC-JP (old Livedoor and MT
installs), and none of them says which. ``detect_encoding`` reads the file once in
chunks with strict incremental decoders, so memory stays flat however large it is; the
file is then read line by line with a cap on a line's length, so one 2 GB line (a
broken or hostile file) is refused instead of filling memory.
"""

from __future__ import annotations

import codecs
import io
import os
from collections.abc import Iterator
from typing import IO

from service.transfer.items import ImportRefused

ENCODINGS = {"utf-8": "utf-8-sig", "shift_jis": "cp932", "euc-jp": "euc_jp"}
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp932": "Shift_JIS (CP932)", "euc_jp": "EUC-JP"}
MAX_LINE = 1 << 20  # characters: far above any real line, far below trouble
_CHUNK = 1 << 16
_HALF_WIDTH_KANA = range(0xFF61, 0xFFA0)


def _kana_count(text: str) -> int:
    return sum(1 for char in text if ord(char) in _HALF_WIDTH_KANA)


def detect_encoding(path: str) -> str:
    """UTF-8 (with or without BOM), else Shift_JIS (CP932), else EUC-JP.

    EUC-JP text is almost always valid CP932 too (as a run of half-width katakana, which
    nobody writes at length), so when both decode, the one that reads as fewer
    half-width katakana wins; Shift_JIS is rarely valid EUC-JP at all."""
    decoders = {name: codecs.getincrementaldecoder(name)("strict") for name in ENCODINGS.values()}
    kana = dict.fromkeys(decoders, 0)
    alive = set(decoders)
    with open(path, "rb") as handle:
        while alive:
            chunk = handle.read(_CHUNK)
            final = not chunk
            for name in list(alive):
                try:
                    text = decoders[name].decode(chunk, final)
                except UnicodeDecodeError:
                    alive.discard(name)
                    continue
                if name != "utf-8-sig":
                    kana[name] += _kana_count(text)
            if final:
                break
    if "utf-8-sig" in alive:
        return "utf-8-sig"
    if alive == {"cp932", "euc_jp"}:
        return "euc_jp" if kana["euc_jp"] < kana["cp932"] else "cp932"
    if alive:
        return alive.pop()
    raise ImportRefused(
        f"{path} is not text in UTF-8, Shift_JIS or EUC-JP (the encodings Movable Type "
        "exports are written in); if you know its encoding, give it with --encoding"
    )


def encoding_for(path: str, choice: str) -> str:
    """The codec to read with: ``auto`` detects, a named one is taken as given."""
    if choice == "auto":
        return detect_encoding(path)
    return ENCODINGS[choice]


class LineReader:
    """The file's lines without their ends (CRLF, CR or LF), numbered, each cut to at most
    ``MAX_LINE`` characters; a byte that is not of the encoding is refused with its line."""

    def __init__(self, path: str, encoding: str) -> None:
        self.path = path
        self.encoding = encoding
        self.number = 0
        self.cut = 0  # lines longer than MAX_LINE, cut to it
        self.raw: IO[bytes] | None = None
        self.size = os.path.getsize(path)

    def position(self) -> int:
        raw = self.raw
        return raw.tell() if raw is not None and not raw.closed else 0

    def lines(self) -> Iterator[str]:
        with open(self.path, "rb") as raw:
            self.raw = raw
            text = io.TextIOWrapper(raw, encoding=self.encoding, errors="strict", newline=None)
            while True:
                try:
                    line = text.readline(MAX_LINE + 1)
                except UnicodeDecodeError as error:
                    raise ImportRefused(
                        f"{self.path}, line {self.number + 1}: bytes that are not "
                        f"{ENCODING_NAMES[self.encoding]} ({error.reason}); the file is "
                        "damaged, or give its encoding with --encoding"
                    ) from None
                if not line:
                    return
                self.number += 1
                if len(line) > MAX_LINE and not line.endswith("\n"):
                    self._skip_rest(text)
                    self.cut += 1
                yield line.rstrip("\n")

    def _skip_rest(self, text: io.TextIOWrapper) -> None:
        """Read past the rest of an over-long line without keeping it."""
        while True:
            try:
                rest = text.readline(MAX_LINE)
            except UnicodeDecodeError as error:
                raise ImportRefused(
                    f"{self.path}, line {self.number}: bytes that are not "
                    f"{ENCODING_NAMES[self.encoding]} ({error.reason})"
                ) from None
            if not rest or rest.endswith("\n"):
                return

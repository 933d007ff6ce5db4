"""The raw Kaggle CSV format, and a check of a file before dbt reads it (encoding, delimiter,
header), so a bad file ends as one clear line instead of a SQL error halfway through a build."""

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ml.dbt import declared_columns
from ml.errors import UserError, given_twice

# The Kaggle file's columns, in its order, as the dbt source declares them.
RAW_COLUMNS = [
    column["name"] for column in declared_columns("staging/_spotify__sources.yml", "raw_tracks")
]
SNIFF_BYTES = 1 << 20
# Every refusal of a file ends with this: where the expected file comes from.
FORMAT_HINT = "expected: the Kaggle spotify-2023.csv, see the README, 'Getting the real data'"
# What a file that is not yet the CSV often is, told by its first bytes.
NOT_YET_CSV = {
    b"PK\x03\x04": "a zip archive (as Kaggle downloads it): extract the CSV from it first",
    b"\x1f\x8b": "gzip-compressed: decompress it first",
    codecs.BOM_UTF16_LE: "UTF-16 text: save it as UTF-8 or latin-1",
    codecs.BOM_UTF16_BE: "UTF-16 text: save it as UTF-8 or latin-1",
}


@dataclass(frozen=True)
class RawFileFormat:
    encoding: str  # a DuckDB read_csv encoding: 'utf-8' or 'latin-1'
    columns: list[str]


# Python's codec for each encoding detect_encoding gives (a UTF-8 BOM is no part of the text).
PYTHON_CODECS = {"utf-8": "utf-8-sig", "latin-1": "latin-1"}


def detect_encoding(head: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, else latin-1 (Kaggle's)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if error.start < len(head) - 3:
            return "latin-1"
    return "utf-8"


# What a spreadsheet or a database export may put between columns instead of commas.
OTHER_SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


def _column_key(name: str) -> str:
    """A column name without case, spaces, punctuation and a percent suffix: near matches."""
    return re.sub(r"(pct|percent)$", "", re.sub(r"[^a-z0-9]", "", name.lower()))


def _refuse(path: Path, reason: str) -> UserError:
    return UserError(f"{path}: {reason} ({FORMAT_HINT})")


# Python's csv errors for quotes that do not pair (others, such as a field too long for it, say
# nothing of quoting), and what each means in the file.
QUOTING_ERRORS = {
    "unexpected end of data": "opens a quoted value that is never closed (was the file cut off?)",
    "expected after": "has a quoted value with more text after its closing quote (a stray '\"' in "
                      "a cell?)",
}  # fmt: skip


def unpaired_quote(path: Path, encoding: str, reader_error: str) -> UserError | None:
    """When DuckDB's reader failed with `reader_error` because it could not make out the
    file's CSV dialect (its message then names no line), a UserError naming the line where
    the file's quoting breaks, read as DuckDB reads it (`"` quotes a value, `""` is a quote
    inside one): a quoted value never closed, or one followed by more text before its comma.
    None otherwise. It reads the whole file, so it runs only after a read failed."""
    if "Error when sniffing file" not in reader_error:
        return None
    with path.open(encoding=PYTHON_CODECS[encoding], errors="replace", newline="") as file:
        reader = csv.reader(file, strict=True)
        start = 1  # the line the current record starts on
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error as error:
            for message, reason in QUOTING_ERRORS.items():
                if message in str(error):
                    return UserError(f"{path}: line {start} {reason}")
    return None


def inspect_raw_csv(path: Path) -> RawFileFormat:
    """The file's encoding and header; UserError naming the file when it cannot be the raw data."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head.strip():
        raise _refuse(path, "the file is empty")
    for first_bytes, reason in NOT_YET_CSV.items():
        if head.startswith(first_bytes):
            raise _refuse(path, reason)
    if b"\x00" in head:
        raise _refuse(path, "not a CSV file (binary content)")
    encoding = detect_encoding(head)
    text = head.decode(PYTHON_CODECS[encoding], errors="replace")
    first_line = text.splitlines()[0]
    header = [name.strip() for name in next(csv.reader([first_line]))]
    other_separators = [name for separator, name in OTHER_SEPARATORS.items()
                        if separator in first_line]  # fmt: skip
    if len(header) == 1 and other_separators:
        raise _refuse(path, f"columns are separated by {other_separators[0]}, expected ',' "
                            "(re-save as CSV)")  # fmt: skip
    missing = [name for name in RAW_COLUMNS if name not in header]
    by_key = {_column_key(name): name for name in header}
    near = {name: by_key[_column_key(name)] for name in missing if _column_key(name) in by_key}
    if len(RAW_COLUMNS) - len(missing) + len(near) < len(RAW_COLUMNS) / 2:
        found = len(RAW_COLUMNS) - len(missing)
        raise _refuse(path, f"not the Kaggle spotify-2023 CSV format (only {found} of its "
                            f"{len(RAW_COLUMNS)} columns in line 1)")  # fmt: skip
    if missing:
        names = ", ".join(f"{name} (found {near[name]})" if name in near else name
                          for name in missing)  # fmt: skip
        edited = " - was the file edited?" if near else ""
        raise _refuse(path, f"required column(s) missing: {names}{edited}")
    twice = given_twice([name for name in header if name in RAW_COLUMNS])
    if twice:
        raise _refuse(path, f"column(s) named twice in line 1: {', '.join(twice)} "
                            "(which one holds the data?)")  # fmt: skip
    if len(text.splitlines()) < 2 and len(head) < SNIFF_BYTES:
        raise _refuse(path, "the file has a header but no data rows")
    return RawFileFormat(encoding=encoding, columns=header)

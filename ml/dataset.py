"""Which raw CSV a build reads, and its identity (name + sha256) recorded with every output."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ml.errors import UserError
from ml.settings import DEFAULT_RAW_CSV, RAW_CSV_ENV, SAMPLE_CSV


@dataclass(frozen=True)
class Dataset:
    path: Path
    sha256: str
    is_sample: bool

    @property
    def name(self) -> str:
        return self.path.name


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_raw_csv(raw: str | Path | None = None) -> Dataset:
    """--raw PATH, then env SPOTIFY_RAW_CSV, then warehouse/raw/spotify-2023.csv, then the sample.

    A path named explicitly (option or env var) that does not exist is an error, never a
    silent fallback to the sample.
    """
    named = raw if raw is not None else os.environ.get(RAW_CSV_ENV) or None
    if named is not None:
        path = Path(named).expanduser().resolve()
        source = "--raw" if raw is not None else RAW_CSV_ENV
        if not path.is_file():
            raise UserError(f"raw CSV not found: {path} (given by {source})")
        return Dataset(path=path, sha256=file_sha256(path), is_sample=path == SAMPLE_CSV.resolve())
    if DEFAULT_RAW_CSV.is_file():
        return Dataset(path=DEFAULT_RAW_CSV, sha256=file_sha256(DEFAULT_RAW_CSV), is_sample=False)
    if not SAMPLE_CSV.is_file():
        raise UserError(f"no raw CSV found and the bundled sample is missing: {SAMPLE_CSV}")
    return Dataset(path=SAMPLE_CSV, sha256=file_sha256(SAMPLE_CSV), is_sample=True)

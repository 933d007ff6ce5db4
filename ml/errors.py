"""The one exception type for problems a user can fix (the CLI prints it as one line), and two
helpers that check what a user wrote: reading a text file (not UTF-8 raises it) and finding the
names given twice."""

from pathlib import Path


class UserError(Exception):
    """Bad input, bad config, missing file, locked warehouse: anything the user can fix."""


def read_user_text(path: Path) -> str:
    """A text file the user wrote (a config, a query), read as UTF-8; UserError if it is not."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text (save it as UTF-8)") from None


def given_twice(names: list) -> list[str]:
    """The names that occur more than once in `names`, sorted."""
    return sorted({str(name) for name in names if names.count(name) > 1})

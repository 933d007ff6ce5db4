"""The one exception type for problems a user can fix; the CLI prints it as one line."""


class UserError(Exception):
    """Bad input, bad config, missing file, locked warehouse: anything the user can fix."""

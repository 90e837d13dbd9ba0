"""The two start-up error types the CLI turns into one line: bad configuration (exit code 2) and a
service that is down or not ready for this version (exit code 1)."""


class ConfigError(Exception):
    """Bad or missing configuration. `where` names the key or file (and line) at fault."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class ServiceUnavailable(Exception):
    """A service the process needs (the database, Redis) cannot be reached or is not ready.

    `where` names the setting that points at it (`database_url`, `redis_url`); the message says
    what to do. Nothing here is a mistake in the configuration's form, so the exit code is 1.
    """

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message

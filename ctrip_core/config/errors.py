"""The one error type for bad configuration; the CLI turns it into exit code 2 and one line."""


class ConfigError(Exception):
    """Bad or missing configuration. `where` names the key or file (and line) at fault."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message

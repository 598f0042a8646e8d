"""`{{name}}`: a ChaosKit validator.

Fails an iteration when more than `max_consecutive` iterations in a row have failed.
"""

from dataclasses import dataclass

from chaoskit import Validator, export_validator


@dataclass
class Config:
    """The scenario's JSON configuration (`config = { ... }` in `[[plugins]]`)."""

    max_consecutive: int = 3


class {{Type}}(Validator):
    Config = Config

    def __init__(self, config):
        self.config = config
        self.failed_in_a_row = 0

    def check(self, outcome):
        """Return None to pass, a message to fail."""
        self.failed_in_a_row = 0 if outcome.ok else self.failed_in_a_row + 1
        if self.failed_in_a_row > self.config.max_consecutive:
            return f"{self.failed_in_a_row} iterations failed in a row (at most {self.config.max_consecutive} allowed)"
        return None


WitWorld = export_validator({{Type}})

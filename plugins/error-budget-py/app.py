"""`error-budget` in Python: the same validator as `plugins/error-budget` (Rust), verdict for verdict.

After each iteration, looks at the last `window` iterations and counts either the failed
iterations (`"count": "failed"`) or the errors recorded in them (`"count": "errors"`). When that
count exceeds `budget`, the iteration is a violation:
`error budget exceeded: 7 failed iterations in the last 100 (budget 5)`.

Build: componentize-py -d ../../wit -w validator componentize --stub-wasi
       -p . -p ../../plugin-sdk-py app -o error_budget_py.wasm
"""

from collections import deque
from dataclasses import dataclass
from typing import Literal

from chaoskit import Validator, export_validator


@dataclass
class Config:
    budget: int
    window: int = 100
    count: Literal["failed", "errors"] = "failed"
    severity: Literal["critical", "warning"] = "critical"


class ErrorBudget(Validator):
    Config = Config

    def __init__(self, config):
        if config.budget < 0:
            raise ValueError("`budget` must not be negative")
        if config.window <= 0:
            raise ValueError("`window` must be greater than 0")
        self.config = config
        self.window = deque()
        self.in_window = 0

    def severity(self):
        return self.config.severity

    def check(self, outcome):
        c = self.config
        n = (0 if outcome.ok else 1) if c.count == "failed" else outcome.errors
        if len(self.window) == c.window:
            self.in_window -= self.window.popleft()
        self.window.append(n)
        self.in_window += n
        if self.in_window > c.budget:
            what = "failed iterations" if c.count == "failed" else "errors"
            return f"error budget exceeded: {self.in_window} {what} in the last {len(self.window)} (budget {c.budget})"
        return None


WitWorld = export_validator(ErrorBudget)

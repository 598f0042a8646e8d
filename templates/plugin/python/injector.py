"""`{{name}}`: a ChaosKit injector.

At delay points, delays by `delay_ms` with probability `probability` (a draw from the host's
seeded stream: same seed, same delays). At error points, fails every `every`-th decision of the
run, counted across all workers by a host counter.
"""

from dataclasses import dataclass

from chaoskit import Action, Counter, Injector, export_injector, random


@dataclass
class Config:
    """The scenario's JSON configuration (`config = { ... }` in `[[plugins]]`)."""

    probability: float = 0.1
    delay_ms: int = 1
    every: int = 10


class {{Type}}(Injector):
    Config = Config

    def __init__(self, config):
        if not 0 <= config.probability <= 1:
            raise ValueError(f"`probability` ({config.probability}) must be within 0..=1")
        if config.every < 0:
            raise ValueError("`every` must not be negative")
        self.config = config
        # Error decisions so far, shared by every instance (one per worker).
        self.decisions = Counter("{{name}}.errors")

    def capabilities(self):
        return ["delay", "error"]

    def decide(self, point, iteration):
        c = self.config
        if point.kind == "delay" and random.chance(c.probability):
            return Action.delay_ms(c.delay_ms)
        if point.kind == "error" and c.every > 0 and self.decisions.add(1) % c.every == 0:
            return Action.error(f"{{name}}: injected error at `{point.name}`")
        return Action.none()


WitWorld = export_injector({{Type}})

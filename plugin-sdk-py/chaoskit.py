"""ChaosKit plugins in Python: the same shape as the Rust SDK (``chaoskit-plugin-sdk``).

A plugin is a class, a typed configuration and one export line::

    from dataclasses import dataclass
    from chaoskit import Validator, export_validator

    @dataclass
    class Config:
        budget: int
        window: int = 100

    class Budget(Validator):
        Config = Config
        def __init__(self, config: Config):
            if config.window <= 0:
                raise ValueError("`window` must be greater than 0")
            self.config, self.failed = config, 0
        def check(self, outcome):
            self.failed += not outcome.ok
            if self.failed > self.config.budget:
                return f"{self.failed} failed iterations (budget {self.config.budget})"

    WitWorld = export_validator(Budget)

Build it into a component with ``componentize-py`` (see README.md): the build stubs out every
WASI import (``--stub-wasi``), so the component imports nothing but ``chaoskit:plugin/host`` and
``chaoskit:plugin/types`` and loads in the host with no grant. Randomness (``random``), time
(``time``), logging (``log``) and shared ``Counter``s come from the host, and random draws replay
with the scenario seed. ``print`` and Python's ``random`` module have no host behind them: use
``log`` and ``random`` from here.
"""

import dataclasses
import json
import typing

from componentize_py_types import Err
from wit_world.imports import host, types

__all__ = [
    "Action",
    "Counter",
    "Injector",
    "Validator",
    "export_injector",
    "export_validator",
    "log",
    "parse_config",
    "random",
    "time",
]

KINDS = ["delay", "panic", "error", "cancel", "network", "failpoint"]


class _Messages:
    """Messages of error and panic actions travel by id (the contract's ``message-id``): the
    first 1024 distinct texts get stable ids, which the host fetches once through ``message``
    and keeps; any other text gets a one-off id (from 2**31), kept only until it is fetched."""

    def __init__(self):
        self.ids = {}
        self.texts = []
        self.one_off = None
        self.next = 0

    def id(self, text):
        known = self.ids.get(text)
        if known is not None:
            return known
        if len(self.texts) < 1024:
            self.ids[text] = len(self.texts)
            self.texts.append(text)
            return self.ids[text]
        one_off = 2**31 + self.next % 2**31
        self.next += 1
        self.one_off = (one_off, text)
        return one_off

    def text(self, id):
        if id < 2**31:
            return self.texts[id] if id < len(self.texts) else ""
        if self.one_off is not None and self.one_off[0] == id:
            text = self.one_off[1]
            self.one_off = None
            return text
        return ""


_MESSAGES = _Messages()


class Action:
    """What an injector wants to happen at a chaos point."""

    @staticmethod
    def none():
        """Nothing: the call proceeds normally."""
        return types.Action_None_()

    @staticmethod
    def delay_ms(ms):
        """Sleep ``ms`` milliseconds."""
        return types.Action_DelayNs(int(round(ms * 1_000_000)))

    @staticmethod
    def delay_ns(ns):
        """Sleep ``ns`` nanoseconds."""
        return types.Action_DelayNs(int(ns))

    @staticmethod
    def error(message):
        """Fail the call with ``message``."""
        return types.Action_Error(_MESSAGES.id(str(message)))

    @staticmethod
    def panic(message):
        """Panic with ``message``."""
        return types.Action_Panic(_MESSAGES.id(str(message)))

    @staticmethod
    def cancel():
        """Cancel the operation."""
        return types.Action_Cancel()


class random:  # noqa: N801 - a namespace, spelled as the Rust SDK's module
    """Randomness from the host's seeded stream: replays with the scenario seed."""

    @staticmethod
    def u64():
        """A uniformly random 64-bit unsigned integer."""
        return host.random_u64()

    @staticmethod
    def f64():
        """A uniformly random float in [0, 1): the same 53 bits, so the same value, as the Rust SDK."""
        return (host.random_u64() >> 11) * (1.0 / (1 << 53))

    @staticmethod
    def chance(p):
        """True with probability ``p`` (0 never, 1 always; neither draws)."""
        if p <= 0:
            return False
        if p >= 1:
            return True
        return random.f64() < p

    @staticmethod
    def range(lo, hi):
        """A uniform integer in [lo, hi) (``lo`` when empty), as the Rust SDK's ``random::range``."""
        span = hi - lo
        if span <= 0:
            return lo
        return lo + ((host.random_u64() * span) >> 64)


class time:  # noqa: N801
    """Host time: the plugin has no other clock."""

    @staticmethod
    def now_ns():
        """Nanoseconds since the plugin was started (host monotonic clock)."""
        return host.now_ns()


class log:  # noqa: N801
    """Log lines through the host (``tracing`` target ``chaoskit::plugin``)."""

    @staticmethod
    def write(level, message):
        host.log(getattr(types.LogLevel, level.upper()), str(message))

    @staticmethod
    def debug(message):
        log.write("debug", message)

    @staticmethod
    def info(message):
        log.write("info", message)

    @staticmethod
    def warn(message):
        log.write("warn", message)


class Counter:
    """A named counter shared by all instances of the plugin (workers, rebuilds, hot reloads).

    Resolve it once (in ``__init__``) and add on the hot path."""

    def __init__(self, name):
        self.handle = host.counter(str(name))

    def add(self, delta):
        """Add ``delta`` and return the new value."""
        return host.counter_add(self.handle, int(delta))

    def get(self):
        """Current value."""
        return self.add(0)


def _type_ok(value, annotation):
    origin = typing.get_origin(annotation)
    if annotation is typing.Any:
        return True
    if origin is typing.Union:
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, dict):
        return isinstance(value, origin)
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def parse_config(text, config_class):
    """Parse a plugin's JSON configuration into ``config_class`` (a dataclass); "" means ``{}``.

    Unknown keys, missing keys without a default, wrong types and values outside a ``Literal``
    are refused with the Rust SDK's words, so the host can suggest the closest key:
    ``invalid configuration: unknown field `rat`, expected one of `rate` ``."""
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise ValueError(f"invalid configuration: {e}") from None
    if not isinstance(value, dict):
        raise ValueError("invalid configuration: expected a JSON object")
    if config_class is None:
        if value:
            raise ValueError(f"invalid configuration: unknown field `{next(iter(value))}`, expected no fields")
        return None
    hints = typing.get_type_hints(config_class)
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for key in value:
        if key not in fields:
            expected = ", ".join(f"`{k}`" for k in fields)
            raise ValueError(f"invalid configuration: unknown field `{key}`, expected one of {expected}")
    kwargs = {}
    for name, field in fields.items():
        if name not in value:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ValueError(f"invalid configuration: missing field `{name}`")
            continue
        v = value[name]
        annotation = hints.get(name, typing.Any)
        if not _type_ok(v, annotation):
            if typing.get_origin(annotation) is typing.Literal:
                choices = ", ".join(f"`{c}`" for c in typing.get_args(annotation))
                raise ValueError(f"invalid configuration: unknown variant `{v}`, expected one of {choices}")
            raise ValueError(f"invalid configuration: invalid type for `{name}`: {json.dumps(v)}")
        kwargs[name] = v
    return config_class(**kwargs)


class Injector:
    """A fault injector: subclass it, set ``Config`` and call ``export_injector``.

    The host may run several instances at once (one per worker), each configured with the same
    JSON; keep state meant to be shared in ``Counter``s."""

    Config = None

    def capabilities(self):
        """Point kinds this injector answers; by default delay, error and panic points."""
        return ["delay", "error", "panic"]

    def wants(self, point):
        """Whether to be asked about ``point`` (cold path); by default when its kind is a capability."""
        return point.kind in self.capabilities()

    def decide(self, point, iteration):
        """Hot path: what happens at ``point`` in ``iteration`` (an ``Action``)."""
        raise NotImplementedError


class Validator:
    """An invariant checker: subclass it, set ``Config`` and call ``export_validator``.

    The host keeps one instance per loaded validator and calls it in iteration order."""

    Config = None

    def severity(self):
        """``"critical"`` (fails the run, the default) or ``"warning"`` (marks it unstable)."""
        return "critical"

    def counting(self):
        """``"per-iteration"`` (the default) or ``"per-run"``."""
        return "per-iteration"

    def wants_events(self):
        """Whether ``observe`` should receive events; False by default."""
        return False

    def observe(self, iteration, events):
        """Events of an iteration (``(kind, value)`` pairs), before its ``check``."""

    def check(self, outcome):
        """After each iteration: return None to pass, a message to fail."""
        raise NotImplementedError

    def finish(self):
        """At the end of the run: None to pass, a message to fail."""
        return None


class Point:
    """A chaos point: ``id``, ``kind`` (e.g. ``"delay"``), ``name`` and ``scope`` (or None)."""

    __slots__ = ("id", "kind", "name", "scope")

    def __init__(self, id, kind, name, scope):
        self.id, self.kind, self.name, self.scope = id, kind, name, scope


def _refuse(e):
    return Err(str(e.args[0]) if isinstance(e, Exception) and e.args else str(e))


def export_injector(plugin_class):
    """The ``WitWorld`` class componentize-py exports for ``plugin_class`` (an ``Injector``)."""

    class WitWorld:
        plugin = None
        points = {}

        def configure(self, config):
            try:
                WitWorld.plugin = plugin_class(parse_config(config, plugin_class.Config))
            except Exception as e:
                raise _refuse(e) from None
            kinds = WitWorld.plugin.capabilities()
            flags = types.Capabilities(0)
            for kind in kinds:
                flags |= getattr(types.Capabilities, kind.upper())
            return types.InjectorInfo(flags)

        def register_point(self, id, point):
            p = Point(id, point.kind.name.lower(), point.name, point.scope)
            WitWorld.points[id] = p
            return WitWorld.plugin is not None and bool(WitWorld.plugin.wants(p))

        def decide(self, id, iteration):
            point = WitWorld.points.get(id)
            if WitWorld.plugin is None or point is None:
                return types.Action_None_()
            action = WitWorld.plugin.decide(point, iteration)
            return types.Action_None_() if action is None else action

        def message(self, id):
            return _MESSAGES.text(id)

    return WitWorld


def export_validator(plugin_class):
    """The ``WitWorld`` class componentize-py exports for ``plugin_class`` (a ``Validator``)."""

    def verdict(result):
        return types.Verdict_Pass() if result is None else types.Verdict_Fail(str(result))

    class WitWorld:
        plugin = None

        def configure(self, config):
            try:
                WitWorld.plugin = plugin_class(parse_config(config, plugin_class.Config))
            except Exception as e:
                raise _refuse(e) from None
            p = WitWorld.plugin
            severity = getattr(types.Severity, p.severity().upper())
            counting = getattr(types.Counting, p.counting().upper().replace("-", "_"))
            return types.ValidatorInfo(severity, counting, bool(p.wants_events()))

        def observe(self, iteration, events):
            if WitWorld.plugin is None:
                return
            kinds = {
                types.Event_RecursionDepth: "recursion-depth",
                types.Event_Panic: "panic",
                types.Event_Error: "error",
                types.Event_Metric: "metric",
            }
            WitWorld.plugin.observe(iteration, [(kinds[type(e)], e.value) for e in events])

        def check(self, outcome):
            if WitWorld.plugin is None:
                return types.Verdict_Fail("validator used before `configure`")
            return verdict(WitWorld.plugin.check(outcome))

        def finish(self):
            if WitWorld.plugin is None:
                return types.Verdict_Fail("validator used before `configure`")
            return verdict(WitWorld.plugin.finish())

    return WitWorld

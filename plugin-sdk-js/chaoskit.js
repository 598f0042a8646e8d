// ChaosKit plugins in JavaScript: the same shape as the Rust SDK (`chaoskit-plugin-sdk`).
//
// A plugin is a class and one export line:
//
//   import { Action, Counter, exportInjector, random } from "./chaoskit.js";
//   class EveryNth {
//     static config = { every: { type: "integer", required: true }, ms: { type: "number", default: 5 } };
//     constructor(config) { if (config.every < 1) throw "`every` must be at least 1"; this.every = config.every; }
//     capabilities() { return ["delay"]; }
//     decide(point, iteration) { return iteration % this.every === 0 ? Action.delayMs(5) : Action.none(); }
//   }
//   export const { configure, registerPoint, decide, message } = exportInjector(EveryNth);
//
// Build it into a component with `node build.mjs injector src/plugin.js plugin.wasm` (see
// README.md). Randomness (`random`), time (`time`), logging (`log`) and shared `Counter`s come
// from the host: a plugin has no other ambient capability (the build disables every WASI
// feature), and its random draws replay with the scenario seed.
//
// Numbers: u64 values of the contract (iterations, nanoseconds, random draws) are BigInts on the
// wire; this module hands plugins plain Numbers where they are exact (iterations, counters)
// and keeps BigInt only for `random.u64()`.

import * as __ckHost from "chaoskit:plugin/host@0.2.0";

/** Point kinds, as `point.kind` spells them and `capabilities()` lists them. */
export const KINDS = ["delay", "panic", "error", "cancel", "network", "failpoint"];

/** What an injector wants to happen at a chaos point. */
export const Action = {
  /** Nothing: the call proceeds normally. */
  none: () => __CK_NONE,
  /** Sleep `ms` milliseconds (fractions allowed). */
  delayMs: (ms) => ({ tag: "delay-ns", val: BigInt(Math.round(ms * 1e6)) }),
  /** Sleep `ns` nanoseconds (a Number or a BigInt). */
  delayNs: (ns) => ({ tag: "delay-ns", val: BigInt(ns) }),
  /** Fail the call with `message`. */
  error: (message) => ({ tag: "error", val: __ckMessages.id(String(message)) }),
  /** Panic with `message`. */
  panic: (message) => ({ tag: "panic", val: __ckMessages.id(String(message)) }),
  /** Cancel the operation. */
  cancel: () => __CK_CANCEL,
};
const __CK_NONE = Object.freeze({ tag: "none" });

// Messages of error and panic actions travel by id (the contract's `message-id`): the first
// 1024 distinct texts get stable ids, which the host fetches once through `message` and keeps;
// any other text gets a one-off id (from 2^31) and is kept only until the host fetches it.
const __ckMessages = {
  ids: new Map(),
  texts: [],
  oneOff: null,
  next: 0,
  id(text) {
    const known = this.ids.get(text);
    if (known !== undefined) return known;
    if (this.texts.length < 1024) {
      const id = this.texts.length;
      this.texts.push(text);
      this.ids.set(text, id);
      return id;
    }
    const id = 2 ** 31 + (this.next++ % 2 ** 31);
    this.oneOff = [id, text];
    return id;
  },
  text(id) {
    if (id < 2 ** 31) return this.texts[id] ?? "";
    if (this.oneOff !== null && this.oneOff[0] === id) {
      const text = this.oneOff[1];
      this.oneOff = null;
      return text;
    }
    return "";
  },
};
const __CK_CANCEL = Object.freeze({ tag: "cancel" });

/** Randomness from the host's seeded stream: replays with the scenario seed. */
export const random = {
  /** A uniformly random u64, as a BigInt. */
  u64: () => __ckHost.randomU64(),
  /** A uniformly random float in [0, 1): the same 53 bits, so the same value, as the Rust SDK. */
  f64: () => Number(__ckHost.randomU64() >> 11n) * (1 / 2 ** 53),
  /** `true` with probability `p` (clamped: 0 never draws true, 1 always does, neither draws). */
  chance(p) {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return random.f64() < p;
  },
  /** A uniform integer in [lo, hi) (`lo` when empty), as the Rust SDK's `random::range`. */
  range(lo, hi) {
    const span = BigInt(hi) - BigInt(lo);
    if (span <= 0n) return lo;
    return Number(BigInt(lo) + ((__ckHost.randomU64() * span) >> 64n));
  },
};

/** Host time: the plugin has no other clock. */
export const time = {
  /** Nanoseconds since the plugin was started (host monotonic clock), as a Number. */
  nowNs: () => Number(__ckHost.nowNs()),
};

/** Log lines through the host (`tracing` target `chaoskit::plugin`). */
export const log = {
  write: (level, message) => __ckHost.log(level, String(message)),
  debug: (message) => __ckHost.log("debug", String(message)),
  info: (message) => __ckHost.log("info", String(message)),
  warn: (message) => __ckHost.log("warn", String(message)),
  error: (message) => __ckHost.log("error", String(message)),
};

/**
 * A named counter shared by all instances of the plugin (workers, rebuilds, hot reloads).
 * Resolve it once (in the constructor) and add on the hot path.
 */
export class Counter {
  constructor(name) {
    this.handle = __ckHost.counter(String(name));
  }
  /** Add `delta` and return the new value. */
  add(delta) {
    return Number(__ckHost.counterAdd(this.handle, BigInt(delta)));
  }
  /** Current value. */
  get() {
    return this.add(0);
  }
}

const __CK_TYPES = {
  number: (v) => typeof v === "number",
  integer: (v) => Number.isInteger(v),
  string: (v) => typeof v === "string",
  boolean: (v) => typeof v === "boolean",
  object: (v) => v !== null && typeof v === "object" && !Array.isArray(v),
  array: (v) => Array.isArray(v),
};

/**
 * Parse a plugin's JSON configuration against `schema` (`{ key: { type, required, default,
 * enum } }`); an empty string means `{}`. Unknown keys, missing required keys, wrong types and
 * values outside `enum` are refused with the same words as the Rust SDK, so the host can suggest
 * the closest key: ``invalid configuration: unknown field `rat`, expected one of `rate` ``.
 */
export function parseConfig(json, schema = {}) {
  let value;
  try {
    value = json.trim() === "" ? {} : JSON.parse(json);
  } catch (e) {
    throw `invalid configuration: ${e.message}`;
  }
  if (!__CK_TYPES.object(value)) throw "invalid configuration: expected a JSON object";
  const keys = Object.keys(schema);
  const config = {};
  for (const key of Object.keys(value)) {
    if (!(key in schema)) {
      const expected = keys.length === 0 ? "no fields" : `one of ${keys.map((k) => `\`${k}\``).join(", ")}`;
      throw `invalid configuration: unknown field \`${key}\`, expected ${expected}`;
    }
  }
  for (const key of keys) {
    const field = schema[key];
    const v = value[key];
    if (v === undefined || v === null) {
      if (field.required) throw `invalid configuration: missing field \`${key}\``;
      config[key] = field.default;
      continue;
    }
    if (field.type && !__CK_TYPES[field.type](v)) {
      throw `invalid configuration: invalid type for \`${key}\`: ${JSON.stringify(v)}, expected ${field.type}`;
    }
    if (field.enum && !field.enum.includes(v)) {
      throw `invalid configuration: unknown variant \`${v}\`, expected one of ${field.enum.map((e) => `\`${e}\``).join(", ")}`;
    }
    config[key] = v;
  }
  return config;
}

function __ckMessage(e) {
  return typeof e === "string" ? e : e instanceof Error ? e.message : String(e);
}

/**
 * The `injector` world's exports for `Plugin`, a class with a static `config` schema, a
 * constructor taking the parsed configuration (throw a string to refuse it), `decide(point,
 * iteration)` returning an `Action`, and optionally `capabilities()` (point kinds; default
 * delay, error and panic) and `wants(point)` (default: its kind is a capability).
 * One instance per worker: keep state meant to be shared in `Counter`s.
 */
export function exportInjector(Plugin) {
  let plugin = null;
  const points = [];
  return {
    configure(json) {
      try {
        plugin = new Plugin(parseConfig(json, Plugin.config));
      } catch (e) {
        throw __ckMessage(e); // jco turns a thrown value into the `err` case of the result.
      }
      const kinds = plugin.capabilities ? plugin.capabilities() : ["delay", "error", "panic"];
      const capabilities = {};
      for (const kind of KINDS) capabilities[kind] = kinds.includes(kind);
      return { capabilities };
    },
    registerPoint(id, point) {
      const p = { id, kind: point.kind, name: point.name, scope: point.scope ?? null };
      points[id] = p;
      if (plugin === null) return false;
      if (plugin.wants) return Boolean(plugin.wants(p));
      const kinds = plugin.capabilities ? plugin.capabilities() : ["delay", "error", "panic"];
      return kinds.includes(p.kind);
    },
    decide(id, iteration) {
      const point = points[id];
      if (plugin === null || point === undefined) return __CK_NONE;
      return plugin.decide(point, Number(iteration)) ?? __CK_NONE;
    },
    message(id) {
      return __ckMessages.text(id);
    },
  };
}

/**
 * The `validator` world's exports for `Plugin`, a class with a static `config` schema, a
 * constructor taking the parsed configuration, `check(outcome)` returning nothing to pass or a
 * string to fail, and optionally `severity()` ("critical" | "warning"), `counting()`
 * ("per-iteration" | "per-run"), `wantsEvents()`, `observe(iteration, events)` and `finish()`.
 */
export function exportValidator(Plugin) {
  let plugin = null;
  const verdict = (r) => (r === undefined || r === null ? { tag: "pass" } : { tag: "fail", val: String(r) });
  return {
    configure(json) {
      try {
        plugin = new Plugin(parseConfig(json, Plugin.config));
      } catch (e) {
        throw __ckMessage(e);
      }
      return {
        severity: plugin.severity ? plugin.severity() : "critical",
        counting: plugin.counting ? plugin.counting() : "per-iteration",
        wantsEvents: plugin.wantsEvents ? Boolean(plugin.wantsEvents()) : false,
      };
    },
    observe(iteration, events) {
      if (plugin?.observe) plugin.observe(Number(iteration), events.map((e) => ({ kind: e.tag, value: e.val })));
    },
    check(outcome) {
      if (plugin === null) return { tag: "fail", val: "validator used before `configure`" };
      return verdict(
        plugin.check({
          iteration: Number(outcome.iteration),
          ok: outcome.ok,
          durationNs: Number(outcome.durationNs),
          panics: outcome.panics,
          errors: outcome.errors,
          maxRecursionDepth: outcome.maxRecursionDepth,
        }),
      );
    },
    finish() {
      if (plugin === null) return { tag: "fail", val: "validator used before `configure`" };
      return verdict(plugin.finish ? plugin.finish() : undefined);
    },
  };
}

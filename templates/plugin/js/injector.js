// `{{name}}`: a ChaosKit injector.
//
// At delay points, delays by `delay_ms` with probability `probability` (a draw from the host's
// seeded stream: same seed, same delays). At error points, fails every `every`-th decision of
// the run, counted across all workers by a host counter.

import { Action, Counter, exportInjector, random } from "../chaoskit.js";

class {{Type}} {
  // The scenario's JSON configuration (`config = { ... }` in `[[plugins]]`).
  static config = {
    probability: { type: "number", default: 0.1 },
    delay_ms: { type: "integer", default: 1 },
    every: { type: "integer", default: 10 },
  };

  constructor(config) {
    if (!(config.probability >= 0 && config.probability <= 1)) {
      throw `\`probability\` (${config.probability}) must be within 0..=1`;
    }
    if (config.every < 0) throw "`every` must not be negative";
    this.config = config;
    // Error decisions so far, shared by every instance (one per worker).
    this.decisions = new Counter("{{name}}.errors");
  }

  capabilities() {
    return ["delay", "error"];
  }

  decide(point, _iteration) {
    const c = this.config;
    if (point.kind === "delay" && random.chance(c.probability)) return Action.delayMs(c.delay_ms);
    if (point.kind === "error" && c.every > 0 && this.decisions.add(1) % c.every === 0) {
      return Action.error(`{{name}}: injected error at \`${point.name}\``);
    }
    return Action.none();
  }
}

export const { configure, registerPoint, decide, message } = exportInjector({{Type}});

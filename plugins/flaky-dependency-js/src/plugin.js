// `flaky-dependency` in JavaScript: the same injector as `plugins/flaky-dependency` (Rust),
// decision for decision: an error rate that ramps linearly from `start_rate` to `end_rate` over
// the first `ramp_calls` decisions of the run, counted across every worker by a host counter,
// with the run-wide number of injected errors capped by `max_errors`.
//
// Build: node ../../plugin-sdk-js/build.mjs injector src/plugin.js flaky_dependency_js.wasm

import { Action, Counter, exportInjector, random } from "../../../plugin-sdk-js/chaoskit.js";

class FlakyDependency {
  static config = {
    start_rate: { type: "number", default: 0 },
    end_rate: { type: "number", required: true },
    ramp_calls: { type: "integer", default: 1000 },
    max_errors: { type: "integer", default: null },
    points: { type: "string", default: null },
    message: { type: "string", default: "flaky dependency: injected error" },
  };

  constructor(config) {
    for (const key of ["start_rate", "end_rate"]) {
      const rate = config[key];
      if (!(rate >= 0 && rate <= 1)) throw `\`${key}\` (${rate}) must be within 0..=1`;
    }
    if (config.ramp_calls < 0) throw "`ramp_calls` must not be negative";
    this.config = config;
    this.decisions = new Counter("flaky.decisions");
    this.errors = new Counter("flaky.errors");
  }

  capabilities() {
    return ["error"];
  }

  wants(point) {
    return point.kind === "error" && (this.config.points === null || point.name.includes(this.config.points));
  }

  decide(_point, _iteration) {
    const c = this.config;
    // The n-th decision of the run, counted across every worker.
    const n = this.decisions.add(1) - 1;
    const progress = c.ramp_calls === 0 ? 1 : Math.min(n / c.ramp_calls, 1);
    const rate = c.start_rate + (c.end_rate - c.start_rate) * progress;
    if (!random.chance(rate)) return Action.none();
    if (c.max_errors !== null && this.errors.add(1) > c.max_errors) return Action.none();
    return Action.error(c.message);
  }
}

export const { configure, registerPoint, decide, message } = exportInjector(FlakyDependency);

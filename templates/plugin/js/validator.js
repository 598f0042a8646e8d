// `{{name}}`: a ChaosKit validator.
//
// Fails an iteration when more than `max_consecutive` iterations in a row have failed.

import { exportValidator } from "../chaoskit.js";

class {{Type}} {
  // The scenario's JSON configuration (`config = { ... }` in `[[plugins]]`).
  static config = {
    max_consecutive: { type: "integer", default: 3 },
  };

  constructor(config) {
    this.config = config;
    this.failedInARow = 0;
  }

  // Return nothing to pass, a message to fail.
  check(outcome) {
    this.failedInARow = outcome.ok ? 0 : this.failedInARow + 1;
    if (this.failedInARow > this.config.max_consecutive) {
      return `${this.failedInARow} iterations failed in a row (at most ${this.config.max_consecutive} allowed)`;
    }
  }
}

export const { configure, observe, check, finish } = exportValidator({{Type}});

//! Durations written the way scenario files write them, for messages of the core (the
//! scenario-file parser re-exports it as `spec::units::format_duration`).

use std::time::Duration;

/// The shortest exact form of a duration (`"1500ms"`, `"10m"`, `"250us"`).
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, per) in
        [("h", 3_600_000_000_000u128), ("m", 60_000_000_000), ("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)]
    {
        if ns >= per && ns.is_multiple_of(per) {
            return format!("{}{unit}", ns / per);
        }
    }
    if ns == 0 { "0s".to_string() } else { format!("{ns}ns") }
}

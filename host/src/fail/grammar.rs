//! The `fail` crate's action grammar: `[p%][n*]task[(arg)]`, chained with `->`.
//!
//! Parsing follows fail 0.5 (`Action::from_str` in its `src/lib.rs`) so every string that
//! works with `fail::cfg` or FAILPOINTS works here, and every string it refuses is refused.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a configured failpoint does when its action is taken.
#[derive(Clone)]
pub(crate) enum Task {
    /// Nothing.
    Off,
    /// Return early from the site with the argument (`fail_point!(name, |arg| ...)`).
    Return(Option<String>),
    /// Sleep the thread this many milliseconds.
    Sleep(u64),
    /// Panic (with the message, or "failpoint NAME panic").
    Panic(Option<String>),
    /// Log through `log::info!` (the message, or "failpoint NAME executed.").
    Print(Option<String>),
    /// Block until the failpoint is configured again or removed.
    Pause,
    /// `std::thread::yield_now`.
    Yield,
    /// Busy-wait this many milliseconds.
    Delay(u64),
    /// A closure given to `cfg_callback`.
    Callback(Arc<dyn Fn() + Send + Sync>),
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Task::Off => f.write_str("Off"),
            Task::Return(a) => write!(f, "Return({a:?})"),
            Task::Sleep(ms) => write!(f, "Sleep({ms})"),
            Task::Panic(a) => write!(f, "Panic({a:?})"),
            Task::Print(a) => write!(f, "Print({a:?})"),
            Task::Pause => f.write_str("Pause"),
            Task::Yield => f.write_str("Yield"),
            Task::Delay(ms) => write!(f, "Delay({ms})"),
            Task::Callback(_) => f.write_str("Callback"),
        }
    }
}

/// One `[p%][n*]task[(arg)]` term.
#[derive(Debug)]
pub(crate) struct Term {
    pub(crate) task: Task,
    /// Probability in `[0, 1]` (fail accepts more than 100%: always).
    pub(crate) freq: f32,
    /// How many more times the term may be taken (`n*`); `None` means unbounded.
    pub(crate) count: Option<AtomicUsize>,
}

impl Term {
    pub(crate) fn new(task: Task, freq: f32, count: Option<usize>) -> Term {
        Term { task, freq, count: count.map(AtomicUsize::new) }
    }

    /// Whether the term is plain `off`: always taken, so nothing after it ever runs.
    pub(crate) fn is_always_off(&self) -> bool {
        matches!(self.task, Task::Off) && self.freq >= 1.0 && self.count.is_none()
    }

    /// Takes the term if its probability and remaining count allow (fail's `get_task`).
    pub(crate) fn take(&self, draw: impl FnOnce() -> f64) -> Option<&Task> {
        if let Some(count) = &self.count
            && count.load(Ordering::Acquire) == 0
        {
            return None;
        }
        if self.freq < 1.0 && draw() >= f64::from(self.freq) {
            return None;
        }
        if let Some(count) = &self.count {
            let mut left = count.load(Ordering::Acquire);
            loop {
                if left == 0 {
                    return None;
                }
                match count.compare_exchange_weak(left, left - 1, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => break,
                    Err(now) => left = now,
                }
            }
        }
        Some(&self.task)
    }
}

fn partition(s: &str, pattern: char) -> (&str, Option<&str>) {
    let mut splits = s.splitn(2, pattern);
    (splits.next().unwrap_or(""), splits.next())
}

/// Parses one term, with fail 0.5's error messages.
pub(crate) fn parse_term(s: &str) -> Result<Term, String> {
    let mut remain = s.trim();
    let mut args = None;
    // The argument may contain `%` or `*`: split it off first.
    let (first, second) = partition(remain, '(');
    if let Some(second) = second {
        remain = first;
        let Some(arg) = second.strip_suffix(')') else {
            return Err("parentheses do not match".to_owned());
        };
        args = Some(arg);
    }
    let mut freq = 1f32;
    let (first, second) = partition(remain, '%');
    if let Some(second) = second {
        remain = second;
        freq = first.parse::<f32>().map_err(|e| format!("failed to parse frequency: {e}"))? / 100.0;
    }
    let mut count = None;
    let (first, second) = partition(remain, '*');
    if let Some(second) = second {
        remain = second;
        count = Some(first.parse::<usize>().map_err(|e| format!("failed to parse count: {e}"))?);
    }
    let millis = || match args {
        None => Err("sleep require timeout".to_owned()),
        Some(t) => t.parse::<u64>().map_err(|e| format!("failed to parse timeout: {e}")),
    };
    let task = match remain {
        "off" => Task::Off,
        "return" => Task::Return(args.map(str::to_owned)),
        "sleep" => Task::Sleep(millis()?),
        "panic" => Task::Panic(args.map(str::to_owned)),
        "print" => Task::Print(args.map(str::to_owned)),
        "pause" => Task::Pause,
        "yield" => Task::Yield,
        "delay" => Task::Delay(millis()?),
        _ => return Err(format!("unrecognized command {remain:?}")),
    };
    Ok(Term::new(task, freq, count))
}

/// Parses a whole configuration: terms chained with `->`, tried in order at each call.
pub(crate) fn parse(actions: &str) -> Result<Vec<Term>, String> {
    actions.split("->").map(parse_term).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(t: &Term) -> String {
        format!("{:?} {} {:?}", t.task, t.freq, t.count.as_ref().map(|c| c.load(Ordering::Relaxed)))
    }

    /// The cases of fail 0.5's own `test_parse` (its `src/lib.rs`), same inputs, same results.
    #[test]
    fn parses_what_fail_parses() {
        let cases = [
            ("return", "Return(None) 1 None"),
            ("return(64)", "Return(Some(\"64\")) 1 None"),
            ("5*return", "Return(None) 1 Some(5)"),
            ("25%return", "Return(None) 0.25 None"),
            ("125%2*return", "Return(None) 1.25 Some(2)"),
            ("return(2%5)", "Return(Some(\"2%5\")) 1 None"),
            ("125%2*off", "Off 1.25 Some(2)"),
            ("125%2*sleep(100)", "Sleep(100) 1.25 Some(2)"),
            (" 125%2*off ", "Off 1.25 Some(2)"),
            ("125%2*panic", "Panic(None) 1.25 Some(2)"),
            ("125%2*panic(msg)", "Panic(Some(\"msg\")) 1.25 Some(2)"),
            ("125%2*print", "Print(None) 1.25 Some(2)"),
            ("125%2*print(msg)", "Print(Some(\"msg\")) 1.25 Some(2)"),
            ("125%2*pause", "Pause 1.25 Some(2)"),
            ("125%2*yield", "Yield 1.25 Some(2)"),
            ("125%2*delay(2)", "Delay(2) 1.25 Some(2)"),
        ];
        for (input, expected) in cases {
            assert_eq!(shape(&parse_term(input).unwrap()), expected, "{input}");
        }
        for bad in ["delay", "sleep", "Return", "ab%return", "ab*return", "return(msg", "unknown"] {
            assert!(parse_term(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(parse_term("sleep").unwrap_err(), "sleep require timeout");
        assert_eq!(parse("off->return").unwrap().len(), 2);
    }

    #[test]
    fn counts_run_out() {
        let t = parse_term("2*return").unwrap();
        assert!(t.take(|| 0.0).is_some());
        assert!(t.take(|| 0.0).is_some());
        assert!(t.take(|| 0.0).is_none());
    }
}

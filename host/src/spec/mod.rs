//! Scenario files (TOML, YAML, JSON) → a resolved scenario → a runnable [`Scenario`].
//!
//! Two explicit stages, as in Spin's manifest → locked app:
//!
//! - [`load_file`] / [`from_str`] read a [`ScenarioFile`] (schema version 1: a `version`
//!   probe first, then serde structs that refuse unknown keys). Errors name the file, line,
//!   column and key path, list the valid values and suggest the closest one.
//! - [`resolve`] fills in defaults, resolves paths against the file's directory and checks
//!   what serde cannot, giving a serialisable [`ResolvedScenario`] (`chaoskit-host validate
//!   --resolved` prints it) and the [`PluginRequest`]s the plugin runtime turns into
//!   injectors and validators.
//! - [`build`] makes the [`Scenario`] the executor runs; [`apply`] instead puts a file's
//!   plan, injectors and validators on a builder whose steps are the program's own code.

mod build;
mod error;
mod parse;
mod resolve;
pub mod schema;
mod sites;
mod source;
mod suggest;
pub mod units;

#[cfg(test)]
mod tests;

pub use build::{BuildOptions, PluginParts, StepObserver, build};
pub use error::SpecError;
pub use parse::{Format, from_str, load_file};
#[cfg(feature = "cli")]
pub(crate) use resolve::resolve_grant;
pub use resolve::{
    MAX_CONCURRENCY, PluginLimits, PluginRequest, PluginSource, ResolvedScenario, ResolvedTarget, resolve,
};
pub use schema::ScenarioFile;
pub use sites::apply;
pub use source::{Position, SourceMap};
pub use suggest::{closest, edit_distance, enrich};

#[cfg(doc)]
use crate::Scenario;

/// A scenario file read, parsed and resolved, with the map from its keys to where they
/// are written (to locate findings made later: building, plugin configuration).
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The resolved scenario.
    pub resolved: ResolvedScenario,
    /// Where each key is written.
    pub source: SourceMap,
}

/// The one validation pass `run` and `validate` share for the file itself: read, parse,
/// resolve; every finding carries the file, line, column and key. Relative paths inside
/// resolve against `base_dir` (the file's directory).
pub fn load(path: &std::path::Path, base_dir: &std::path::Path) -> Result<Loaded, SpecError> {
    let (text, format, file) = parse::read_source(path)?;
    let spec = from_str(&text, format, &file)?;
    let source = SourceMap::new(&text, format);
    let resolved = resolve(spec, &file, base_dir).map_err(|e| e.located(&source))?;
    Ok(Loaded { resolved, source })
}

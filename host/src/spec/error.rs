//! What can be wrong with a scenario file.

use std::fmt;

/// A scenario file that cannot be used, with where and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file cannot be read.
    #[error("cannot read `{file}`: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The extension names no known format.
    #[error("`{file}`: unknown scenario format; name the file *.toml, *.yaml, *.yml or *.json")]
    UnknownFormat {
        /// The file.
        file: String,
    },
    /// A finding at a position: a syntax or schema error, or a value the scenario cannot
    /// use (see [`SpecError::located`]).
    #[error("{}", Located(self))]
    Parse {
        /// The file.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// 1-based column, when known.
        column: Option<usize>,
        /// Key path (`steps[2].timeout`), when known.
        key: Option<String>,
        /// What is wrong, with the valid values.
        message: String,
    },
    /// No `version` key.
    #[error("{file}: missing `version`; add `version = 1` at the top of the file")]
    MissingVersion {
        /// The file.
        file: String,
    },
    /// A version this host does not read.
    #[error("{file}: `version = {found}` is not supported; this host reads `version = 1`")]
    UnsupportedVersion {
        /// The file.
        file: String,
        /// What the file says.
        found: u64,
    },
    /// A value serde accepted but the scenario cannot use.
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// Key path of the offending value.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl SpecError {
    /// The same finding with the line and column of its key in `source` (a finding made
    /// after parsing knows only its key path; this puts it where the user wrote it).
    pub fn located(self, source: &super::SourceMap) -> SpecError {
        match self {
            SpecError::Invalid { file, key, message } => {
                let at = source.locate(&key);
                SpecError::Parse {
                    file,
                    line: at.map(|p| p.line),
                    column: at.map(|p| p.column),
                    key: Some(key),
                    message,
                }
            }
            other => other,
        }
    }
}

struct Located<'a>(&'a SpecError);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SpecError::Parse { file, line, column, key, message } = self.0 else {
            return Ok(());
        };
        write!(f, "{file}")?;
        if let Some(line) = line {
            write!(f, ":{line}")?;
            if let Some(column) = column {
                write!(f, ":{column}")?;
            }
        }
        match key {
            Some(key) => write!(f, ": {key}: {message}"),
            None => write!(f, ": {message}"),
        }
    }
}

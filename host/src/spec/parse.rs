//! Reading a scenario file in any of its three formats into one [`ScenarioFile`].
//!
//! Key paths come from `serde_path_to_error` because none of the three parsers names the
//! key in its messages (toml gives a span, serde-saphyr a location, serde_json a line and
//! column); wrapping the deserializer gives one `steps[2].timeout` form for all three.

use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::SpecError;
use super::schema::ScenarioFile;
use super::suggest::enrich;

/// A scenario file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `*.toml`
    Toml,
    /// `*.yaml`, `*.yml`
    Yaml,
    /// `*.json`
    Json,
}

impl Format {
    /// The format a file name implies.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Reads and parses a scenario file; the format follows the extension.
pub fn load_file(path: &Path) -> Result<ScenarioFile, SpecError> {
    let (text, format, file) = read_source(path)?;
    from_str(&text, format, &file)
}

/// The text of a scenario file, its format and its name for messages.
pub(super) fn read_source(path: &Path) -> Result<(String, Format, String), SpecError> {
    let file = path.display().to_string();
    let format = Format::from_path(path).ok_or_else(|| SpecError::UnknownFormat { file: file.clone() })?;
    let text = read_bounded(path).map_err(|source| SpecError::Read { file: file.clone(), source })?;
    Ok((text, format, file))
}

/// The largest scenario file read (the biggest example is a few KiB).
pub const MAX_SCENARIO_BYTES: u64 = 4 << 20;

/// A scenario file is input: a regular file (not a FIFO or a device that never ends) of at
/// most [`MAX_SCENARIO_BYTES`], in UTF-8.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path)?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_SCENARIO_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_SCENARIO_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("larger than {MAX_SCENARIO_BYTES} bytes, the most a scenario file may be"),
        ));
    }
    Ok(text)
}

/// Only the version, read before the schema it selects.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    version: Option<u64>,
}

/// Parses scenario text; `file` names it in errors.
pub fn from_str(text: &str, format: Format, file: &str) -> Result<ScenarioFile, SpecError> {
    let probe: Probe = parse_as(text, format, file)?;
    match probe.version {
        None => return Err(SpecError::MissingVersion { file: file.into() }),
        Some(1) => {}
        Some(found) => {
            return Err(SpecError::UnsupportedVersion { file: file.into(), found });
        }
    }
    parse_as(text, format, file)
}

struct Failure {
    line: Option<usize>,
    column: Option<usize>,
    key: Option<String>,
    message: String,
}

fn key_of(path: &serde_path_to_error::Path) -> Option<String> {
    let key = path.to_string();
    (key != "." && !key.contains('?')).then_some(key)
}

fn parse_as<T: DeserializeOwned>(text: &str, format: Format, file: &str) -> Result<T, SpecError> {
    let result = match format {
        Format::Toml => parse_toml(text),
        Format::Yaml => parse_yaml(text),
        Format::Json => parse_json(text),
    };
    result.map_err(|mut f| {
        let mut message = plain_words(&f.message);
        // A bare "expected …" (serde-saphyr's `invalid u64`) gains the value it refused.
        if message.starts_with("expected ")
            && let (Some(line), Some(column)) = (f.line, f.column)
            && let Some(value) = token_at(text, line, column)
        {
            message = format!("invalid value `{value}`, {message}");
        }
        f.message = message;
        if f.key.as_deref().is_some_and(|k| k.ends_with(']'))
            && let Some(name) = refine_key(text, format, &mut f)
        {
            f.key = f.key.map(|k| format!("{k}.{name}"));
        }
        SpecError::Parse { file: file.into(), line: f.line, column: f.column, key: f.key, message: enrich(&f.message) }
    })
}

/// Entries tagged by `type` (steps, injectors, validators) are buffered by serde before
/// their fields are read, so the key path stops at the entry (`steps[2]`). The key is
/// found in the source instead: JSON positions point just past the offending value, so it
/// is the key written before it; toml and serde-saphyr point at the entry, so it is the key
/// in that entry whose value the message quotes (or the unknown key the message names), and
/// the position moves to it.
fn refine_key(text: &str, format: Format, f: &mut Failure) -> Option<String> {
    let (line, column) = (f.line?, f.column?);
    let source = text.lines().nth(line.checked_sub(1)?)?;
    let before: String = source.chars().take(column.saturating_sub(1)).collect();
    let sep = match format {
        Format::Json => {
            let end = before.rfind("\":")?;
            let start = before[..end].rfind('"')?;
            let name = before[start + 1..end].to_string();
            return (!name.is_empty() && name != "type").then_some(name);
        }
        Format::Toml => '=',
        Format::Yaml => ':',
    };
    // The lines of the entry: up to the next table header (toml) or the next line indented
    // less than the entry's keys (YAML).
    let indent = |l: &str| l.len() - l.trim_start().len();
    let region = text.lines().enumerate().skip(line - 1).take_while(|(n, l)| {
        *n == line - 1
            || match format {
                Format::Toml => !l.trim_start().starts_with('['),
                _ => l.trim().is_empty() || indent(l) >= column - 1,
            }
    });
    let entry = |l: &str| -> Option<(String, usize, String)> {
        let body = l.trim_start();
        let body = if format == Format::Yaml { body.strip_prefix("- ").unwrap_or(body) } else { body };
        let (key, value) = body.split_once(sep)?;
        let key = key.trim().trim_matches('"').to_string();
        let value_col = l.len() - value.trim_start().len() + 1;
        Some((key, value_col, value.trim().to_string()))
    };
    let unknown = f.message.strip_prefix("unknown field `").and_then(|r| r.split('`').next()).map(str::to_string);
    let quoted =
        f.message.split('"').nth(1).map(str::to_string).or_else(|| {
            f.message.strip_prefix("unknown variant `").and_then(|r| r.split('`').next()).map(str::to_string)
        });
    for (n, l) in region {
        let Some((key, value_col, value)) = entry(l) else {
            continue;
        };
        let hit = match (&unknown, &quoted) {
            (Some(name), _) => key == *name,
            (None, Some(q)) => value.trim_matches('"').trim_matches('\'') == q || value.contains(&format!("\"{q}\"")),
            (None, None) => false,
        };
        if hit && key != "type" {
            f.line = Some(n + 1);
            f.column = Some(if unknown.is_some() { indent(l) + 1 } else { value_col });
            return Some(key);
        }
    }
    None
}

/// Parser wording a user cannot act on, in the user's terms: Rust type names
/// (`expected usize`) and serde-saphyr's option names (`set DuplicateKeyPolicy in Options`).
fn plain_words(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("duplicate mapping key") {
        let key = rest.strip_prefix(": ").and_then(|r| r.split(", set ").next()).unwrap_or("");
        return if key.is_empty() {
            "a key appears twice in the same mapping; keep one".to_string()
        } else {
            format!("key `{key}` appears twice in the same mapping; keep one")
        };
    }
    // serde-saphyr says only `invalid u64` for a scalar that does not parse as one.
    if let Some(ty) = message.strip_prefix("invalid ")
        && let Some(plain) = plain_type(ty)
    {
        return format!("expected {plain}");
    }
    let Some((head, expected)) = message.rsplit_once("expected ") else {
        return message.to_string();
    };
    match plain_type(expected.trim()) {
        Some(plain) => format!("{head}expected {plain}"),
        None => message.to_string(),
    }
}

fn plain_type(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "usize" | "u64" | "u32" | "u16" | "u8" => "a whole number, 0 or more",
        "isize" | "i64" | "i32" | "i16" | "i8" => "a whole number",
        "f64" | "f32" => "a number",
        "a boolean" | "bool" => "`true` or `false`",
        "a map" => "a table of keys and values",
        _ => return None,
    })
}

/// The scalar written at a 1-based line and column, unquoted.
fn token_at(text: &str, line: usize, column: usize) -> Option<String> {
    let source = text.lines().nth(line.checked_sub(1)?)?;
    let rest: String = source.chars().skip(column.checked_sub(1)?).collect();
    let token = rest.split([',', '}', ']', '#']).next()?.trim().trim_matches('"').trim_matches('\'');
    (!token.is_empty()).then(|| token.to_string())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| before[nl + 1..].chars().count()) + 1;
    (line, column)
}

fn toml_failure(text: &str, e: &toml::de::Error, key: Option<String>) -> Failure {
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    Failure { line, column, key, message: e.message().trim().to_string() }
}

fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_failure(text, &e, None))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = key_of(e.path());
        toml_failure(text, e.inner(), key)
    })
}

fn parse_json<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let key = key_of(e.path());
        json_failure(e.inner(), key)
    })?;
    de.end().map_err(|e| json_failure(&e, None))?;
    Ok(value)
}

fn json_failure(e: &serde_json::Error, key: Option<String>) -> Failure {
    let message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&suffix).unwrap_or(&message).to_string();
    Failure { line: Some(e.line()).filter(|l| *l > 0), column: Some(e.column()).filter(|c| *c > 0), key, message }
}

fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, Failure> {
    let mut key = None;
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            key = key_of(e.path());
            e.into_inner()
        })
    })
    .map_err(|e| {
        let (line, column) = match e.location() {
            Some(loc) if loc.line() > 0 => (Some(loc.line() as usize), Some(loc.column() as usize)),
            _ => (None, None),
        };
        Failure { line, column, key, message: yaml_message(&e) }
    })
}

/// serde-saphyr renders the location into its message; we print it in front instead.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let text = match text.find(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    text.trim().to_string()
}

//! `chaoskit-host plugin new`: a ready plugin project in Rust, JavaScript or Python.
//!
//! The templates live in `templates/plugin/` at the repository root; JavaScript and Python
//! projects also get the helper module and build script of `plugin-sdk-js` / `plugin-sdk-py`
//! and a copy of the contract (`wit/plugin.wit`), so they build with no checkout of ChaosKit.
//! Every project holds a `scenario.toml` that runs the plugin with `chaoskit-host run`.

use std::path::{Path, PathBuf};

use anyhow::anyhow;

use super::args::{PluginKind, PluginLang};
use super::exit::{CliError, ErrorKind};

/// One file of a project: its path inside the project and its text, placeholders unfilled.
type File = (&'static str, &'static str);

const COMMON_INJECTOR: &[File] = &[
    ("scenario.toml", include_str!("../../../templates/plugin/common/scenario-injector.toml")),
    ("config.schema.json", include_str!("../../../templates/plugin/common/schema-injector.json")),
];
const COMMON_VALIDATOR: &[File] = &[
    ("scenario.toml", include_str!("../../../templates/plugin/common/scenario-validator.toml")),
    ("config.schema.json", include_str!("../../../templates/plugin/common/schema-validator.json")),
];
const WIT: File = ("wit/plugin.wit", include_str!("../../../wit/plugin.wit"));

const RUST: &[File] = &[
    ("Cargo.toml", include_str!("../../../templates/plugin/rust/Cargo.toml")),
    ("README.md", include_str!("../../../templates/plugin/rust/README.md")),
    (".gitignore", "/target\n"),
];
const JS: &[File] = &[
    ("package.json", include_str!("../../../templates/plugin/js/package.json")),
    ("README.md", include_str!("../../../templates/plugin/js/README.md")),
    ("build.sh", include_str!("../../../templates/plugin/js/build.sh")),
    ("build.mjs", include_str!("../../../plugin-sdk-js/build.mjs")),
    ("chaoskit.js", include_str!("../../../plugin-sdk-js/chaoskit.js")),
    (".gitignore", "node_modules/\n*.wasm\n"),
    WIT,
];
const PYTHON: &[File] = &[
    ("README.md", include_str!("../../../templates/plugin/python/README.md")),
    ("build.sh", include_str!("../../../templates/plugin/python/build.sh")),
    ("build.py", include_str!("../../../plugin-sdk-py/build.py")),
    ("chaoskit.py", include_str!("../../../plugin-sdk-py/chaoskit.py")),
    ("requirements.txt", include_str!("../../../plugin-sdk-py/requirements.txt")),
    (".gitignore", ".venv/\n__pycache__/\n*.wasm\n"),
    WIT,
];

fn source(lang: PluginLang, kind: PluginKind) -> File {
    match (lang, kind) {
        (PluginLang::Rust, PluginKind::Injector) => {
            ("src/lib.rs", include_str!("../../../templates/plugin/rust/injector.rs"))
        }
        (PluginLang::Rust, PluginKind::Validator) => {
            ("src/lib.rs", include_str!("../../../templates/plugin/rust/validator.rs"))
        }
        (PluginLang::Js, PluginKind::Injector) => {
            ("src/plugin.js", include_str!("../../../templates/plugin/js/injector.js"))
        }
        (PluginLang::Js, PluginKind::Validator) => {
            ("src/plugin.js", include_str!("../../../templates/plugin/js/validator.js"))
        }
        (PluginLang::Python, PluginKind::Injector) => {
            ("app.py", include_str!("../../../templates/plugin/python/injector.py"))
        }
        (PluginLang::Python, PluginKind::Validator) => {
            ("app.py", include_str!("../../../templates/plugin/python/validator.py"))
        }
    }
}

/// Whether `name` can name a package in all three ecosystems (and a host counter prefix):
/// lowercase ASCII letters, digits and `-`, starting with a letter, at most 64 bytes.
fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "plugin name `{}` is not valid: use lowercase letters, digits and `-`, starting with a letter (e.g. `slow-db`), at most 64 bytes",
            crate::report::escape::terminal_safe(name)
        ))
    }
}

/// `slow-db` → `SlowDb`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// What `plugin new` wrote: the project directory and the command that builds it.
pub(super) struct Created {
    pub(super) dir: PathBuf,
    pub(super) build: &'static str,
    pub(super) wasm: String,
}

/// Write a new `lang` project for a `kind` plugin called `name` into `parent/name`; refuses a
/// directory that exists and is not empty.
pub(super) fn create(name: &str, kind: PluginKind, lang: PluginLang, parent: &Path) -> Result<Created, CliError> {
    let usage = |e: String| CliError::new(ErrorKind::Usage, anyhow!(e));
    check_name(name).map_err(usage)?;
    let dir = parent.join(name);
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(usage(format!(
            "`{}` already exists and is not empty; choose another name or --dir",
            dir.display()
        )));
    }
    let kind_name = match kind {
        PluginKind::Injector => "injector",
        PluginKind::Validator => "validator",
    };
    let crate_name = name.replace('-', "_");
    let (files, build, wasm) = match lang {
        PluginLang::Rust => (
            RUST,
            "cargo build --release --target wasm32-wasip2",
            format!("target/wasm32-wasip2/release/{crate_name}.wasm"),
        ),
        PluginLang::Js => (JS, "./build.sh", format!("{crate_name}.wasm")),
        PluginLang::Python => (PYTHON, "./build.sh", format!("{crate_name}.wasm")),
    };
    let common = match kind {
        PluginKind::Injector => COMMON_INJECTOR,
        PluginKind::Validator => COMMON_VALIDATOR,
    };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{crate}}", &crate_name)
            .replace("{{Type}}", &type_name(name))
            .replace("{{kind}}", kind_name)
            .replace("{{wasm}}", &wasm)
    };
    let io = |path: &Path, e: std::io::Error| {
        CliError::new(ErrorKind::Usage, anyhow!("cannot write `{}`: {e}", path.display()))
    };
    for (relative, text) in files.iter().chain(common).chain([source(lang, kind)].iter()) {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        std::fs::write(&path, fill(text)).map_err(|e| io(&path, e))?;
        #[cfg(unix)]
        if relative.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(|e| io(&path, e))?;
        }
    }
    Ok(Created { dir, build, wasm })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_type_names() {
        assert!(check_name("slow-db").is_ok());
        assert!(check_name("a1").is_ok());
        for bad in ["", "Slow", "1db", "slow_db", "slow-", "a b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(type_name("slow-db"), "SlowDb");
        assert_eq!(type_name("x"), "X");
    }

    #[test]
    fn every_placeholder_is_filled() {
        let dir = tempfile::tempdir().unwrap();
        for lang in [PluginLang::Rust, PluginLang::Js, PluginLang::Python] {
            for kind in [PluginKind::Injector, PluginKind::Validator] {
                let parent = dir.path().join(format!("{lang:?}-{kind:?}"));
                let created = create("slow-db", kind, lang, &parent).unwrap();
                let mut stack = vec![created.dir.clone()];
                while let Some(d) = stack.pop() {
                    for entry in std::fs::read_dir(&d).unwrap().flatten() {
                        if entry.path().is_dir() {
                            stack.push(entry.path());
                            continue;
                        }
                        let text = std::fs::read_to_string(entry.path()).unwrap();
                        assert!(!text.contains("{{"), "{} keeps a placeholder", entry.path().display());
                    }
                }
                let again = create("slow-db", kind, lang, &parent);
                assert!(again.is_err(), "a non-empty directory is refused");
            }
        }
    }
}

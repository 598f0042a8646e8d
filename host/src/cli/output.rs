//! Writing output: atomic files, and stdout that tolerates a closed pipe.

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` atomically: a temporary file in the same directory, then a
/// rename, so a reader never sees half a report. The temporary name is unpredictable and
/// created exclusively (`O_CREAT | O_EXCL`), so a file or symlink planted in a shared report
/// directory is never written through; the rename replaces a symlink at `path` itself rather
/// than the file it points to.
pub(super) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let (tmp, mut f) = create_temporary(dir, &name)?;
    let result = (|| {
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new file `.{name}.tmp-{random}` in `dir`, never one that already exists.
fn create_temporary(dir: &Path, name: &str) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, Hasher};
    const ATTEMPTS: u32 = 32;
    for attempt in 0..ATTEMPTS {
        // RandomState is keyed from the OS's randomness once per process, then varies per call.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(attempt);
        h.write_u32(std::process::id());
        let tmp = dir.join(format!(".{name}.tmp-{:016x}", h.finish()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("no free temporary name for `{name}` in `{}` after {ATTEMPTS} attempts", dir.display()),
    ))
}

/// Prints to stdout. A closed pipe (`chaoskit-host run … | head`) is not an error: the
/// reader has what it wanted, so the rest is dropped quietly and the run's exit code stands.
pub(super) fn print_stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Prints a line to stderr, ignoring failures (there is nowhere else to report them).
pub(super) fn eprint_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Lower-case hex SHA-256 of `bytes` (provenance of scenario files and plugins).
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::write_atomic;

    #[cfg(unix)]
    #[test]
    fn a_planted_symlink_is_replaced_not_written_through() {
        let dir = std::env::temp_dir().join(format!("chaoskit-write-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let outside = dir.join("outside.txt");
        std::fs::write(&outside, "precious").unwrap();
        // The target name and the old predictable temporary names point outside.
        std::os::unix::fs::symlink(&outside, dir.join("report.txt")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join(format!(".report.txt.tmp-{}", std::process::id()))).unwrap();
        write_atomic(&dir.join("report.txt"), b"the report").unwrap();
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious", "written through a symlink");
        assert_eq!(std::fs::read_to_string(dir.join("report.txt")).unwrap(), "the report");
        assert!(!std::fs::symlink_metadata(dir.join("report.txt")).unwrap().file_type().is_symlink());
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-") && !e.file_type().unwrap().is_symlink())
            .collect();
        assert!(left.is_empty(), "no temporary file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The on-disk compile cache holds native code the host maps and runs without checking it
//! again, so it is trusted only when nobody but the user could have written it: the host
//! creates it `0700`, and refuses one that another user owns or may write, or that sits under
//! a directory where another user could swap it (the checks OpenSSH's `StrictModes` makes).

use std::path::Path;

/// Create `dir` (mode `0700`) if it does not exist, then check that it is the user's own.
/// The error says why it is not to be trusted.
pub(crate) fn prepare(dir: &Path) -> Result<(), String> {
    create(dir).map_err(|e| format!("cannot create it: {e}"))?;
    trusted(dir)
}

#[cfg(unix)]
fn create(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn trusted(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = nix::unistd::geteuid().as_raw();
    let dir = dir.canonicalize().map_err(|e| format!("cannot resolve it: {e}"))?;
    let meta = std::fs::metadata(&dir).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    if meta.uid() != me {
        return Err(format!("it is owned by uid {}, not by you (uid {me})", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "its mode {:04o} lets other users write it (chmod 700 it, or choose another CHAOSKIT_CACHE_DIR)",
            meta.mode() & 0o7777
        ));
    }
    // Each ancestor: owned by you or root, and not writable by others unless sticky (as
    // /tmp is): otherwise someone else could replace the cache with their own.
    for ancestor in dir.ancestors().skip(1) {
        let meta = std::fs::metadata(ancestor).map_err(|e| format!("cannot read `{}`: {e}", ancestor.display()))?;
        let sticky = meta.mode() & 0o1000 != 0;
        let foreign = meta.uid() != me && meta.uid() != 0;
        if (foreign && meta.mode() & 0o022 != 0) || (meta.mode() & 0o002 != 0 && !sticky) {
            return Err(format!(
                "it is inside `{}` (uid {}, mode {:04o}), which other users may write",
                ancestor.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn trusted(_dir: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::prepare;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("chaoskit-cache-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        dir
    }

    #[test]
    fn a_new_cache_is_created_private() {
        let base = scratch("new");
        let cache = base.join("a/b/chaoskit");
        prepare(&cache).unwrap();
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "created {mode:o}");
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_cache_others_may_write_is_refused_with_its_mode() {
        let base = scratch("shared");
        let cache = base.join("cache");
        std::fs::create_dir(&cache).unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare(&cache).unwrap_err();
        assert!(err.contains("mode 0777 lets other users write it"), "{err}");
        // Inside a world-writable directory without the sticky bit, a private cache can be
        // swapped by anyone.
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = prepare(&cache).unwrap_err();
        assert!(err.contains("which other users may write"), "{err}");
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777)).unwrap();
        prepare(&cache).unwrap();
        // A cache that another user owns (testable where the tests may chown: as root).
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&cache, Some(65534), None).unwrap();
            let err = prepare(&cache).unwrap_err();
            assert!(err.contains("owned by uid 65534, not by you"), "{err}");
        }
        std::fs::remove_dir_all(&base).unwrap();
    }
}

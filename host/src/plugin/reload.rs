//! Hot reload: watch a plugin file and swap in new versions off the hot path.

use super::error::PluginError;
use notify::{RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the file must stay quiet before it is read (a writer may still be writing).
const SETTLE: Duration = Duration::from_millis(10);

/// A plugin that can load its file again.
pub(crate) trait Reload: Send + Sync + 'static {
    /// Compile, link and configure the file; swap it in if it changed and works.
    fn reload(&self) -> Result<bool, PluginError>;
}

/// A running watcher; dropping it stops the watch and joins its thread.
pub(crate) struct Watch {
    watcher: Option<notify::RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Dropping the watcher drops the event sender, which ends the reload thread.
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Watch {
    /// Watch the directory of `path` (so a rename into place is seen) for changes to `path`.
    pub(crate) fn start(path: &Path, target: Weak<dyn Reload>) -> Result<Self, PluginError> {
        let watch_error = |message: String| PluginError::Watch { path: path.to_owned(), message };
        let file = path.canonicalize().map_err(|e| watch_error(e.to_string()))?;
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| watch_error("the file has no parent directory".into()))?;
        let (tx, rx) = mpsc::channel::<()>();
        let wanted: PathBuf = file.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && !event.kind.is_access()
                && event.paths.contains(&wanted)
            {
                let _ = tx.send(());
            }
        })
        .map_err(|e| watch_error(e.to_string()))?;
        watcher.watch(&dir, RecursiveMode::NonRecursive).map_err(|e| watch_error(e.to_string()))?;
        let thread = std::thread::Builder::new()
            .name("chaoskit-plugin-reload".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    // Coalesce a burst of events (a write in several chunks) into one reload.
                    while rx.recv_timeout(SETTLE).is_ok() {}
                    let Some(target) = target.upgrade() else {
                        return;
                    };
                    // Errors are logged and noted by the target; the old version keeps serving.
                    let _ = target.reload();
                }
            })
            .map_err(|e| watch_error(e.to_string()))?;
        Ok(Self { watcher: Some(watcher), thread: Some(thread) })
    }
}

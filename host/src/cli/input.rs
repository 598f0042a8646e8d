//! Reading the files a command is given (journals, schedules): regular files only, and no
//! more bytes than a limit, so a hostile path (a FIFO, `/dev/zero`, a huge file) is refused
//! with its name instead of blocking or exhausting memory.

use std::io::Read;
use std::path::Path;

use anyhow::anyhow;

use super::exit::{CliError, ErrorKind};

/// The text of `path`, refused (exit 2, naming the file and the limit) unless it is a
/// regular file of at most `max` bytes of UTF-8. `what` names the kind of file in errors.
pub(super) fn read_bounded(path: &Path, max: u64, what: &str) -> Result<String, CliError> {
    let config = |e: anyhow::Error| CliError::new(ErrorKind::Config, e);
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| config(anyhow!("cannot read `{name}`: {e}")))?;
    if !meta.is_file() {
        return Err(config(anyhow!("cannot read `{name}`: not a regular file (a {what} is a file)")));
    }
    if meta.len() > max {
        return Err(config(anyhow!("`{name}` is {} bytes, more than a {what} may be ({max} bytes)", meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| config(anyhow!("cannot read `{name}`: {e}")))?;
    let mut bytes = Vec::new();
    // The file may grow between the check and the read: read one byte past the limit at most.
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| config(anyhow!("cannot read `{name}`: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(config(anyhow!("`{name}` grew past the {max} bytes a {what} may be while it was read")));
    }
    String::from_utf8(bytes).map_err(|e| config(anyhow!("cannot read `{name}`: not UTF-8 text ({e})")))
}

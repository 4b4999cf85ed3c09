//! Secrets the gateway makes for itself and keeps in its data folder (the `requestState` key, the built-in
//! authorization server's signing key): read when the file exists, else made once and written with file mode
//! 0600, so a restart keeps using them. Two processes starting together agree on the first one written.

use std::io::Write as _;
use std::path::Path;

/// The bytes kept in `path`, made by `generate` and written (mode 0600, folder created) when the file does not
/// exist.
pub fn load_or_create(path: &Path, generate: impl Fn() -> Vec<u8>) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => return Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let secret = generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(&secret)?;
            file.sync_all()?;
            Ok(secret)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path),
        Err(e) => Err(e),
    }
}

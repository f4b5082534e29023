//! What the integration tests share.

use std::path::PathBuf;

/// The data root: `$SIAMESE_DATA`, else `../shared/data` beside the repository.
pub fn data_root() -> PathBuf {
    std::env::var_os("SIAMESE_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"))
}

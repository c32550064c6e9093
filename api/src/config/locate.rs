//! Which configuration file a command reads: the one named by `--config` (or `RINGBACK_CONFIG`,
//! which clap folds into the flag), else the first that exists of `/etc/ringback/ringback.toml` (where
//! the systemd unit and packages put it) and `./ringback.toml` (a checkout or a container's working
//! directory), else none: the built-in defaults and the `RINGBACK_<SECTION>__<KEY>` environment, as
//! before there were default places, so the demo and the tests that name no file keep working.

use super::{Config, ConfigError};
use std::path::{Path, PathBuf};

/// The places looked at when no file is named, in order.
pub const DEFAULT_PLACES: &[&str] = &["/etc/ringback/ringback.toml", "ringback.toml"];

/// The file a command reads, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigFile {
    /// Named by `--config` or `RINGBACK_CONFIG`: it must exist.
    Named(PathBuf),
    /// Found in one of [`DEFAULT_PLACES`].
    Found(PathBuf),
    /// No file: the defaults and the environment.
    BuiltIn,
}

impl ConfigFile {
    /// The file to read for `named`, looking in `places` when none is named.
    pub fn locate_in(named: Option<PathBuf>, places: &[&Path]) -> Self {
        match named {
            Some(path) => Self::Named(path),
            None => places
                .iter()
                .find(|p| p.is_file())
                .map_or(Self::BuiltIn, |p| Self::Found(p.to_path_buf())),
        }
    }

    /// The file to read for `named`, looking in [`DEFAULT_PLACES`] when none is named.
    pub fn locate(named: Option<PathBuf>) -> Self {
        let places: Vec<&Path> = DEFAULT_PLACES.iter().map(Path::new).collect();
        Self::locate_in(named, &places)
    }

    /// The path read, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::Named(path) | Self::Found(path) => Some(path),
            Self::BuiltIn => None,
        }
    }

    /// Loads it (a named file that does not exist is an error, not the defaults).
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_file_wins_then_the_first_place_that_exists_then_the_defaults() {
        let dir = tempfile::tempdir().expect("temp dir");
        let system = dir.path().join("etc.toml");
        let local = dir.path().join("local.toml");
        let places = [system.as_path(), local.as_path()];
        assert_eq!(ConfigFile::locate_in(None, &places), ConfigFile::BuiltIn);
        std::fs::write(&local, "").expect("write");
        assert_eq!(
            ConfigFile::locate_in(None, &places),
            ConfigFile::Found(local.clone())
        );
        std::fs::write(&system, "").expect("write");
        assert_eq!(
            ConfigFile::locate_in(None, &places),
            ConfigFile::Found(system.clone())
        );
        let named = dir.path().join("missing.toml");
        let file = ConfigFile::locate_in(Some(named.clone()), &places);
        assert_eq!(file, ConfigFile::Named(named));
        assert!(
            matches!(file.load(), Err(ConfigError::NotFound(_))),
            "a named file that is not there is an error"
        );
    }
}

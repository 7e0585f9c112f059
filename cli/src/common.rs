//! What every subcommand shares: the global options, decoding key and value arguments, and
//! opening a database.

use std::io;
use std::path::{Path, PathBuf};

use lightning_db::{Database, DatabaseError, LightningDbConfig};

use crate::error::CliError;
use crate::output;

/// The database directory used when a command is given none.
pub const DEFAULT_PATH: &str = "./lightning-data";

/// The name of the file every Lightning DB directory has once created.
const CURRENT_FILE: &str = "CURRENT";

/// Options accepted by every subcommand, before or after its name.
#[derive(Debug, Clone, clap::Args)]
pub struct GlobalOpts {
    /// Keys and values given on the command line are hex, and keys and values are printed as hex.
    #[arg(long, global = true)]
    pub hex: bool,

    /// No progress bars (results and summaries are still printed).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Database configuration as a JSON file; any field may be left out, for example
    /// `{"cache_size": 268435456, "durability": "NoSync"}`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl GlobalOpts {
    /// The configuration to open databases with: the `--config` file, or the defaults.
    pub fn db_config(&self) -> Result<LightningDbConfig, CliError> {
        let Some(file) = &self.config else {
            return Ok(LightningDbConfig::default());
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            CliError::Usage(format!(
                "cannot read the --config file '{}': {e}",
                file.display()
            ))
        })?;
        Ok(LightningDbConfig::from_json(&text)?)
    }

    /// A key or value argument as bytes: hex-decoded with `--hex`, else its UTF-8 bytes.
    pub fn decode_arg(&self, what: &str, text: &str) -> Result<Vec<u8>, CliError> {
        if self.hex {
            output::from_hex(text).map_err(|e| CliError::Usage(format!("{what}: {e}")))
        } else {
            Ok(text.as_bytes().to_vec())
        }
    }

    /// Bytes as printed text: hex with `--hex`, else readable escaped text.
    pub fn show(&self, bytes: &[u8]) -> String {
        output::show(bytes, self.hex)
    }
}

/// Opens the database at `path`, creating it when missing (for commands that write).
pub fn open_or_create(global: &GlobalOpts, path: &Path) -> Result<Database, CliError> {
    Ok(Database::open(path, global.db_config()?)?)
}

/// Opens the existing database at `path`. A missing directory, or one holding no database,
/// is an `IO_ERROR` rather than silently creating an empty database to read from.
pub fn open_existing(global: &GlobalOpts, path: &Path) -> Result<Database, CliError> {
    if !path.is_dir() {
        return Err(DatabaseError::io(
            "open database",
            path,
            &io::Error::new(io::ErrorKind::NotFound, "no such directory"),
        )
        .into());
    }
    let current = path.join(CURRENT_FILE);
    if !current.is_file() {
        return Err(DatabaseError::io(
            "open database",
            &current,
            &io::Error::new(
                io::ErrorKind::NotFound,
                "the directory holds no Lightning DB database (`lightning put` creates one)",
            ),
        )
        .into());
    }
    open_or_create(global, path)
}

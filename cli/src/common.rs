//! What every subcommand shares: the global options, decoding key and value arguments, and
//! opening a database.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use lightning_db::{
    Database, DatabaseError, EncryptionKey, EventListener, LightningDbConfig, RecoveryStage,
    RecoveryStageInfo, StagePhase,
};

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

    /// Show the log replay of an open even off a terminal (as lines) and for a small log
    /// (a terminal gets a bar by itself for a large log).
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub progress: bool,

    /// Database configuration as a JSON file; any field may be left out, for example
    /// `{"cache_size": 268435456, "durability": "NoSync"}`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The key of an encrypted database: a file holding its 32 raw bytes or 64 hexadecimal
    /// digits. Without it, the LIGHTNING_KEY environment variable (64 hexadecimal digits)
    /// is used when set. A database created with a key is encrypted; an encrypted one
    /// opens only with its key. For `migrate --encrypt`: the key the database will open
    /// with. For `audit verify` and `audit tail`: the sealed audit log's key (else
    /// $LIGHTNING_AUDIT_KEY).
    #[arg(long, global = true, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// The environment variable holding an encrypted database's key (64 hexadecimal digits)
/// when `--key-file` is not given.
pub const KEY_ENV: &str = "LIGHTNING_KEY";

impl GlobalOpts {
    /// The configuration to open databases with: the `--config` file, or the defaults.
    /// With a key (`--key-file` or `LIGHTNING_KEY`), encryption at rest is on.
    pub fn db_config(&self) -> Result<LightningDbConfig, CliError> {
        let mut config = match &self.config {
            None => LightningDbConfig::default(),
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    CliError::Usage(format!(
                        "cannot read the --config file '{}': {e}",
                        file.display()
                    ))
                })?;
                LightningDbConfig::from_json(&text)?
            }
        };
        if let Some(key) = self.encryption_key()? {
            config.security.enable_encryption = true;
            config.security.encryption_key = Some(key);
        }
        Ok(config)
    }

    /// The key of an encrypted database: `--key-file`, else `LIGHTNING_KEY`, else none.
    pub fn encryption_key(&self) -> Result<Option<EncryptionKey>, CliError> {
        if let Some(file) = &self.key_file {
            return Ok(Some(EncryptionKey::from_file(file)?));
        }
        if std::env::var_os(KEY_ENV).is_some() {
            return Ok(Some(EncryptionKey::from_env(KEY_ENV)?));
        }
        Ok(None)
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

/// Opens the database at `path`, creating it when missing (for commands that write),
/// showing the replay of a large log (see [`ReplayProgress`]).
pub fn open_or_create(global: &GlobalOpts, path: &Path) -> Result<Database, CliError> {
    let config = global.db_config()?;
    let show = if global.quiet {
        None
    } else {
        ReplayProgress::new(global.progress, std::io::stderr().is_terminal())
    };
    let listeners: Vec<Arc<dyn EventListener>> = match &show {
        Some(p) => vec![Arc::clone(p) as Arc<dyn EventListener>],
        None => Vec::new(),
    };
    let opened = Database::open_with_listeners(path, config, listeners);
    if let Some(p) = &show {
        p.end();
    }
    Ok(opened?)
}

/// A log to replay at least this large gets a progress bar on a terminal.
pub const LARGE_LOG_BYTES: u64 = 32 << 20;

/// Shows the log replay of an open on standard error: a bar on a terminal once the log is
/// [`LARGE_LOG_BYTES`] or more (any size with `--progress`), or with `--progress` and no
/// terminal, a line at each whole percent and one when done.
pub struct ReplayProgress {
    forced: bool,
    terminal: bool,
    state: Mutex<Shown>,
}

#[derive(Default)]
struct Shown {
    bar: Option<ProgressBar>,
    /// The last percent written as a line (`None` before the first).
    percent: Option<u64>,
}

impl ReplayProgress {
    /// The reporter for a forced (`--progress`) or terminal standard error; `None` when
    /// nothing would be shown.
    fn new(forced: bool, terminal: bool) -> Option<Arc<Self>> {
        (forced || terminal).then(|| {
            Arc::new(ReplayProgress {
                forced,
                terminal,
                state: Mutex::new(Shown::default()),
            })
        })
    }

    /// Clears a bar left by an open that failed midway.
    fn end(&self) {
        if let Some(bar) = self
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bar
            .take()
        {
            bar.finish_and_clear();
        }
    }

    fn line(info: &RecoveryStageInfo, percent: u64) {
        eprintln!(
            "replaying the log: {percent:>3}% ({} of {})",
            output::human_bytes(info.done),
            output::human_bytes(info.total)
        );
    }
}

impl EventListener for ReplayProgress {
    fn on_recovery_stage(&self, info: &RecoveryStageInfo) {
        if info.stage != RecoveryStage::LogReplay || info.total == 0 {
            return;
        }
        let mut shown = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let done = matches!(info.phase, StagePhase::Finished | StagePhase::Failed);
        if self.terminal {
            if shown.bar.is_none() && !done && (self.forced || info.total >= LARGE_LOG_BYTES) {
                let bar = ProgressBar::new(info.total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:40.cyan/blue}] {bytes}/{total_bytes} ({eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_message("replaying the log");
                shown.bar = Some(bar);
            }
            if let Some(bar) = &shown.bar {
                bar.set_position(info.done.min(info.total));
                if done {
                    bar.finish_and_clear();
                    shown.bar = None;
                }
            }
        } else {
            let percent = (info.done.min(info.total) * 100) / info.total;
            let percent = if info.phase == StagePhase::Finished {
                100
            } else {
                percent
            };
            if shown.percent.is_none_or(|p| percent > p) {
                shown.percent = Some(percent);
                Self::line(info, percent);
            }
            if info.phase == StagePhase::Failed {
                eprintln!("replaying the log: failed at {percent}%");
            }
        }
    }
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

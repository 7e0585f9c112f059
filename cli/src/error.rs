//! What can go wrong in a command, how it is printed and which exit code it gives.
//!
//! | exit code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | the key was not found (`get`, `delete`) |
//! | 2 | usage error: bad arguments (clap's own errors use 2 as well), bad hex, unreadable `--config` file |
//! | 3 | database error: any other [`DatabaseError`], printed with its stable code, name and suggested action |
//! | 4 | verification failed: the demo read back something other than what it wrote, or a health check is critical |
//! | 5 | writing the output failed (other than a closed pipe, which ends quietly with 0) |

use std::io;
use std::process::ExitCode;

use lightning_db::DatabaseError;

/// The exit codes of `lightning`; see the module documentation for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// 0: the command did what it was asked.
    Success = 0,
    /// 1: the key asked for holds no value.
    NotFound = 1,
    /// 2: the command line is wrong.
    Usage = 2,
    /// 3: the database reported an error.
    Database = 3,
    /// 4: data read back differs from what was written, or a health check is critical.
    Verification = 4,
    /// 5: standard output could not be written.
    Output = 5,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status as u8)
    }
}

/// The error of a command.
#[derive(Debug)]
pub enum CliError {
    /// An error from Lightning DB (exit 1 for `KeyNotFound`, 3 for the rest).
    Database(DatabaseError),
    /// A bad argument found after parsing, such as malformed hex (exit 2).
    Usage(String),
    /// The demo found data other than what it wrote (exit 4).
    Verification(String),
    /// Writing to standard output failed (exit 5; a broken pipe exits 0 without a word).
    Output(io::Error),
}

impl From<DatabaseError> for CliError {
    fn from(e: DatabaseError) -> Self {
        CliError::Database(e)
    }
}

impl From<io::Error> for CliError {
    /// I/O errors reaching the command layer come from writing its output.
    fn from(e: io::Error) -> Self {
        CliError::Output(e)
    }
}

impl CliError {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CliError::Database(DatabaseError::KeyNotFound { .. }) => ExitStatus::NotFound,
            CliError::Database(_) => ExitStatus::Database,
            CliError::Usage(_) => ExitStatus::Usage,
            CliError::Verification(_) => ExitStatus::Verification,
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitStatus::Success,
            CliError::Output(_) => ExitStatus::Output,
        }
    }

    /// The lines printed to standard error for this error (none for a closed pipe).
    pub fn message(&self) -> Vec<String> {
        match self {
            CliError::Database(e) => {
                let mut lines = vec![format!("error[{} {}]: {e}", e.error_code(), e.code_name())];
                if let Some(action) = e.suggested_action() {
                    lines.push(format!("suggested action: {action}"));
                }
                lines
            }
            CliError::Usage(message) => vec![format!("error: {message}")],
            CliError::Verification(message) => {
                vec![format!("error: verification failed: {message}")]
            }
            CliError::Output(e) if e.kind() == io::ErrorKind::BrokenPipe => Vec::new(),
            CliError::Output(e) => vec![format!("error: cannot write output: {e}")],
        }
    }

    /// Prints the error to standard error and returns the exit code to end with.
    pub fn report(&self) -> ExitCode {
        for line in self.message() {
            eprintln!("{line}");
        }
        self.exit_status().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_carry_code_name_and_action() {
        let err = CliError::from(DatabaseError::DatabaseLocked {
            path: "/tmp/db".into(),
        });
        assert_eq!(err.exit_status(), ExitStatus::Database);
        let lines = err.message();
        assert!(
            lines[0].starts_with("error[110 DATABASE_LOCKED]: "),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("suggested action: "), "{lines:?}");
    }

    #[test]
    fn not_found_and_pipe() {
        let err = CliError::from(DatabaseError::KeyNotFound {
            key: b"k".to_vec(),
            context: String::new(),
        });
        assert_eq!(err.exit_status(), ExitStatus::NotFound);
        assert_eq!(err.message().len(), 1);
        let pipe = CliError::from(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(pipe.exit_status(), ExitStatus::Success);
        assert!(pipe.message().is_empty());
        assert_eq!(
            CliError::Usage("x".into()).exit_status() as u8,
            2,
            "usage errors share clap's code"
        );
    }
}

//! Errors carry the stage and the cause; `main` alone turns one into the
//! exit code and the log line.

use std::fmt;

/// Exit code of a bad command line (as getopt-style tools do).
pub const EXIT_USAGE: i32 = 2;
/// Exit code of pidone's own failure before the command starts (Docker's).
pub const EXIT_SETUP: i32 = 125;
/// The command was found but cannot be executed.
pub const EXIT_CANNOT_EXEC: i32 = 126;
/// The command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Usage,
    Metadata,
    Mounts,
    Modules,
    Root,
    Cgroup,
    Helpers,
    Net,
    User,
    Workdir,
    Env,
    Console,
    Caps,
    Exec,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Usage => "usage",
            Stage::Metadata => "metadata",
            Stage::Mounts => "mounts",
            Stage::Modules => "modules",
            Stage::Root => "root",
            Stage::Cgroup => "cgroup",
            Stage::Helpers => "helpers",
            Stage::Net => "net",
            Stage::User => "user",
            Stage::Workdir => "workdir",
            Stage::Env => "env",
            Stage::Console => "console",
            Stage::Caps => "caps",
            Stage::Exec => "exec",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub stage: Stage,
    pub message: String,
    pub code: i32,
}

/// The calling thread's errno (EIO when there is none).
pub fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The system's text for an errno, without Rust's " (os error N)".
pub fn describe_errno(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

impl Error {
    /// A failure before the command starts: exit 125.
    pub fn new(stage: Stage, message: impl Into<String>) -> Error {
        Error {
            stage,
            message: message.into(),
            code: EXIT_SETUP,
        }
    }

    /// A bad command line: exit 2.
    pub fn usage(message: impl Into<String>) -> Error {
        Error {
            stage: Stage::Usage,
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    pub fn with_code(mut self, code: i32) -> Error {
        self.code = code;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stage={}: {}", self.stage.name(), self.message)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for mapping a system error into a stage error.
pub trait Context<T> {
    fn stage(self, stage: Stage, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn stage(self, stage: Stage, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::new(stage, format!("{}: {}", what(), e)))
    }
}

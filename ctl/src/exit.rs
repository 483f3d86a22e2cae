//! etcdctl's exit codes (ctlv3/command/error.go) and the error a command
//! ends with: `Error: <message>` on stderr, then exit with the code.
//!
//! ```text
//!   0 success   1 error   2 bad connection   3 invalid input (txn, watch)
//!   4 bad feature (a valid flag with an unsupported value)
//!   5 interrupted   6 I/O   128 bad arguments
//! ```

pub const EXIT_SUCCESS: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_BAD_CONNECTION: i32 = 2;
pub const EXIT_INVALID_INPUT: i32 = 3;
pub const EXIT_BAD_FEATURE: i32 = 4;
pub const EXIT_INTERRUPTED: i32 = 5;
pub const EXIT_IO: i32 = 6;
pub const EXIT_BAD_ARGS: i32 = 128;

/// Why a command failed, and the code it exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlError {
    pub code: i32,
    pub message: String,
    /// What to do about it, in cairnctl's own words: printed after
    /// etcdctl's `Error:` line only when stderr is a terminal, so scripts
    /// see exactly etcdctl's output.
    pub hint: Option<String>,
}

impl CtlError {
    pub fn new(code: i32, message: impl Into<String>) -> CtlError {
        CtlError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> CtlError {
        self.hint = Some(hint.into());
        self
    }

    /// A bad argument (exit 128).
    pub fn bad_args(message: impl Into<String>) -> CtlError {
        CtlError::new(EXIT_BAD_ARGS, message)
    }

    /// etcdctl crashing on a nil pointer (a printer it lacks, as
    /// `member promote -w json`; a response without a header, as `alarm
    /// list -w fields` against etcd): Go's panic line on stderr (cairnctl
    /// prints no goroutine trace), and Go's exit code 2.
    pub fn nil_panic() -> CtlError {
        eprintln!("panic: runtime error: invalid memory address or nil pointer dereference");
        CtlError::new(EXIT_BAD_CONNECTION, "")
    }

    /// etcdctl's refusal of `-w table` where a command has no table.
    pub fn no_table() -> CtlError {
        CtlError::new(EXIT_BAD_FEATURE, "table not supported as output format")
    }
}

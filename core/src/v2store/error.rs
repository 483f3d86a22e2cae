//! v2 errors: etcd's `v2error` codes, messages and HTTP statuses.

/// A v2 error as etcd reports it: `{"errorCode":..,"message":..,"cause":..,"index":..}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2Error {
    pub code: u16,
    pub cause: String,
    /// The store's index when the error happened.
    pub index: u64,
}

/// `Key not found` (404).
pub const ECODE_KEY_NOT_FOUND: u16 = 100;
/// `Compare failed` (412).
pub const ECODE_TEST_FAILED: u16 = 101;
/// `Not a file` (403).
pub const ECODE_NOT_FILE: u16 = 102;
/// `Not a directory` (400).
pub const ECODE_NOT_DIR: u16 = 104;
/// `Key already exists` (412).
pub const ECODE_NODE_EXIST: u16 = 105;
/// `Root is read only` (400).
pub const ECODE_ROOT_READ_ONLY: u16 = 107;
/// `Directory not empty` (403).
pub const ECODE_DIR_NOT_EMPTY: u16 = 108;
/// `Invalid field` (400); cairn also answers it for a key nested deeper
/// than [`super::MAX_DEPTH`].
pub const ECODE_INVALID_FIELD: u16 = 209;
/// `The event in requested index is outdated and cleared` (400).
pub const ECODE_EVENT_INDEX_CLEARED: u16 = 401;

impl V2Error {
    pub fn new(code: u16, cause: impl Into<String>, index: u64) -> V2Error {
        V2Error {
            code,
            cause: cause.into(),
            index,
        }
    }

    /// etcd's message for the code (v2error's table), e.g. 100 "Key not found";
    /// empty for a code the table does not have (as etcd's map lookup).
    pub fn message(&self) -> &'static str {
        match self.code {
            100 => "Key not found",
            101 => "Compare failed",
            102 => "Not a file",
            103 => "Reached the max number of peers in the cluster",
            104 => "Not a directory",
            105 => "Key already exists",
            106 => "The prefix of given key is a keyword in etcd",
            107 => "Root is read only",
            108 => "Directory not empty",
            109 => "Peer address has existed",
            110 => "The request requires user authentication",
            200 => "Value is Required in POST form",
            201 => "PrevValue is Required in POST form",
            202 => "The given TTL in POST form is not a number",
            203 => "The given index in POST form is not a number",
            204 => "Value or TTL is required in POST form",
            205 => "The given timeout in POST form is not a number",
            206 => "Name is required in POST form",
            207 => "Index or value is required",
            208 => "Index and value cannot both be specified",
            209 => "Invalid field",
            210 => "Invalid POST form",
            211 => "Value provided on refresh",
            212 => "A TTL must be provided on refresh",
            300 => "Raft Internal Error",
            301 => "During Leader Election",
            400 => "watcher is cleared due to etcd recovery",
            401 => "The event in requested index is outdated and cleared",
            402 => "Standby Internal Error",
            403 => "Invalid active size",
            404 => "Standby remove delay",
            500 => "Client Internal Error",
            _ => "",
        }
    }

    /// The HTTP status etcd answers this error with (v2error's `StatusCode`):
    /// 400 for every code without an entry of its own.
    pub fn http_status(&self) -> u16 {
        match self.code {
            100 => 404,
            102 | 108 => 403,
            110 => 401,
            101 | 105 => 412,
            300 | 301 => 500,
            _ => 400,
        }
    }
}

impl std::fmt::Display for V2Error {
    /// etcd's `Error()`: `message (cause)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.cause)
    }
}

impl std::error::Error for V2Error {}

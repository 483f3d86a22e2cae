//! Client histories: what each simulated client asked, when, and what it was told.
//!
//! A history is the only evidence the linearizability checker gets, so it records
//! real-time intervals (`call_ms`..`return_ms`) and exact outputs, and it keeps
//! operations whose outcome is unknown (a timeout, a lost connection) as
//! *indeterminate*: `return_ms` and `output` are both `None`, and the operation may
//! or may not have taken effect at any time after its call.
//!
//! Histories are dumped to a line-oriented text format ([`History::to_text`]) so a
//! failing run can be saved next to its seed and re-checked later without replaying
//! the simulation ([`History::from_text`]). One operation per line:
//!
//! ```text
//! # cairn history v1
//! op 7 client 2 call 100 return 135 get =k3 -> some =v17
//! op 8 client 1 call 101 return ? put =k3 =v18 -> ?
//! op 9 client 0 call 102 return 140 range =a =z -> range 2 =a =1 =b =2
//! op 10 client 3 call 103 return 150 cas =k none =v -> cas true
//! op 11 client 4 call 104 return 151 delete =k -> deleted 1
//! op 12 client 5 call 105 return 152 put =k =v -> ok
//! ```
//!
//! Every string is written as `=` followed by its bytes, percent-encoding anything
//! outside `[A-Za-z0-9_.:/+-]`, so a token never contains whitespace and the empty
//! string is the token `=`.

use std::fmt;

/// A key, as the client sent it.
pub type Key = String;
/// A value, as the client sent or received it.
pub type Value = String;

/// What a client asked for (etcd v3 KV semantics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Set `key` to `value`.
    Put { key: Key, value: Value },
    /// Read the current value of `key`.
    Get { key: Key },
    /// Remove `key`; the output says how many keys existed.
    Delete { key: Key },
    /// A txn: `if value(key) == expected then put(key, new)`. `expected: None`
    /// means "the key must be absent" (etcd: `create_revision == 0`).
    Cas {
        key: Key,
        expected: Option<Value>,
        new: Value,
    },
    /// Read every present key in the half-open interval `[start, end)`.
    Range { start: Key, end: Key },
}

/// What a client was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Put,
    Get(Option<Value>),
    Delete {
        deleted: u64,
    },
    Cas {
        succeeded: bool,
    },
    /// Present keys with their values, sorted by key.
    Range(Vec<(Key, Value)>),
}

/// One client operation and its real-time interval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Unique within a history; used only to name operations in reports.
    pub id: u64,
    pub client: u32,
    pub call_ms: u64,
    /// `None` = indeterminate: the outcome is unknown; the operation may have taken
    /// effect at any time after `call_ms`, or never.
    pub return_ms: Option<u64>,
    pub input: Input,
    /// `None` iff `return_ms` is `None`.
    pub output: Option<Output>,
}

/// A client history, in any order (the checker sorts by time itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub ops: Vec<Operation>,
}

impl Input {
    /// The single key this input reads or writes; `None` for a range.
    pub fn key(&self) -> Option<&str> {
        match self {
            Input::Put { key, .. }
            | Input::Get { key }
            | Input::Delete { key }
            | Input::Cas { key, .. } => Some(key),
            Input::Range { .. } => None,
        }
    }

    /// Whether the input can change the store (reads never do).
    pub fn is_write(&self) -> bool {
        !matches!(self, Input::Get { .. } | Input::Range { .. })
    }

    /// Whether `output` is the kind of answer this input gets.
    pub fn matches(&self, output: &Output) -> bool {
        matches!(
            (self, output),
            (Input::Put { .. }, Output::Put)
                | (Input::Get { .. }, Output::Get(_))
                | (Input::Delete { .. }, Output::Delete { .. })
                | (Input::Cas { .. }, Output::Cas { .. })
                | (Input::Range { .. }, Output::Range(_))
        )
    }
}

impl Operation {
    /// Whether the outcome of the operation is unknown.
    pub fn is_indeterminate(&self) -> bool {
        self.return_ms.is_none()
    }

    /// Whether the two operations' real-time intervals overlap (closed intervals;
    /// an indeterminate operation extends to infinity).
    pub fn overlaps(&self, other: &Operation) -> bool {
        let ends_after = |op: &Operation, time: u64| op.return_ms.is_none_or(|r| r >= time);
        ends_after(self, other.call_ms) && ends_after(other, self.call_ms)
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Put { key, value } => write!(f, "put({key}, {value})"),
            Input::Get { key } => write!(f, "get({key})"),
            Input::Delete { key } => write!(f, "delete({key})"),
            Input::Cas { key, expected, new } => match expected {
                Some(expected) => write!(f, "cas({key}, {expected} => {new})"),
                None => write!(f, "cas({key}, absent => {new})"),
            },
            Input::Range { start, end } => write!(f, "range([{start}, {end}))"),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Put => write!(f, "ok"),
            Output::Get(Some(value)) => write!(f, "Some({value})"),
            Output::Get(None) => write!(f, "None"),
            Output::Delete { deleted } => write!(f, "deleted={deleted}"),
            Output::Cas { succeeded } => {
                write!(f, "{}", if *succeeded { "succeeded" } else { "failed" })
            }
            Output::Range(pairs) => {
                write!(f, "[")?;
                for (index, (key, value)) in pairs.iter().enumerate() {
                    let separator = if index == 0 { "" } else { ", " };
                    write!(f, "{separator}{key}={value}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// `get(k3) -> Some(v17) at [120ms, 135ms] (op 42, client 3)`.
impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.output, self.return_ms) {
            (Some(output), Some(return_ms)) => write!(
                f,
                "{} -> {output} at [{}ms, {return_ms}ms]",
                self.input, self.call_ms
            )?,
            _ => write!(f, "{} -> ? at [{}ms, ?)", self.input, self.call_ms)?,
        }
        write!(f, " (op {}, client {})", self.id, self.client)
    }
}

/// Why [`History::from_text`] refused its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "history line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

const TEXT_HEADER: &str = "# cairn history v1";

impl History {
    /// The text dump described in the module documentation.
    pub fn to_text(&self) -> String {
        let mut text = String::from(TEXT_HEADER);
        text.push('\n');
        for op in &self.ops {
            text.push_str(&op_to_line(op));
            text.push('\n');
        }
        text
    }

    /// Parses [`History::to_text`]'s format. Blank lines and `#` comments are ignored.
    pub fn from_text(text: &str) -> Result<History, ParseError> {
        let mut ops = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let op = line_to_op(line).map_err(|message| ParseError {
                line: index + 1,
                message,
            })?;
            ops.push(op);
        }
        Ok(History { ops })
    }
}

fn op_to_line(op: &Operation) -> String {
    let mut line = format!(
        "op {} client {} call {} return ",
        op.id, op.client, op.call_ms
    );
    match op.return_ms {
        Some(return_ms) => line.push_str(&return_ms.to_string()),
        None => line.push('?'),
    }
    let words: Vec<String> = match &op.input {
        Input::Put { key, value } => vec!["put".into(), encode(key), encode(value)],
        Input::Get { key } => vec!["get".into(), encode(key)],
        Input::Delete { key } => vec!["delete".into(), encode(key)],
        Input::Cas { key, expected, new } => {
            vec![
                "cas".into(),
                encode(key),
                encode_option(expected),
                encode(new),
            ]
        }
        Input::Range { start, end } => vec!["range".into(), encode(start), encode(end)],
    };
    for word in words {
        line.push(' ');
        line.push_str(&word);
    }
    line.push_str(" ->");
    let words: Vec<String> = match &op.output {
        None => vec!["?".into()],
        Some(Output::Put) => vec!["ok".into()],
        Some(Output::Get(value)) => match value {
            Some(value) => vec!["some".into(), encode(value)],
            None => vec!["none".into()],
        },
        Some(Output::Delete { deleted }) => vec!["deleted".into(), deleted.to_string()],
        Some(Output::Cas { succeeded }) => vec!["cas".into(), succeeded.to_string()],
        Some(Output::Range(pairs)) => {
            let mut words = vec!["range".into(), pairs.len().to_string()];
            for (key, value) in pairs {
                words.push(encode(key));
                words.push(encode(value));
            }
            words
        }
    };
    for word in words {
        line.push(' ');
        line.push_str(&word);
    }
    line
}

/// Reads whitespace-separated words, with typed accessors that name what was expected.
struct Words<'a> {
    words: std::str::SplitWhitespace<'a>,
}

impl<'a> Words<'a> {
    fn next(&mut self, what: &str) -> Result<&'a str, String> {
        self.words
            .next()
            .ok_or_else(|| format!("expected {what}, found end of line"))
    }

    fn literal(&mut self, literal: &str) -> Result<(), String> {
        let word = self.next(literal)?;
        if word == literal {
            Ok(())
        } else {
            Err(format!("expected `{literal}`, found `{word}`"))
        }
    }

    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, String> {
        let word = self.next(what)?;
        word.parse()
            .map_err(|_| format!("expected {what} (a number), found `{word}`"))
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        decode(self.next(what)?)
    }

    fn option(&mut self, what: &str) -> Result<Option<String>, String> {
        match self.next(what)? {
            "none" => Ok(None),
            word => decode(word).map(Some),
        }
    }
}

fn line_to_op(line: &str) -> Result<Operation, String> {
    let mut words = Words {
        words: line.split_whitespace(),
    };
    words.literal("op")?;
    let id = words.number("op id")?;
    words.literal("client")?;
    let client = words.number("client")?;
    words.literal("call")?;
    let call_ms = words.number("call time")?;
    words.literal("return")?;
    let return_ms = match words.next("return time")? {
        "?" => None,
        word => Some(
            word.parse()
                .map_err(|_| format!("expected return time, found `{word}`"))?,
        ),
    };
    let input = match words.next("operation")? {
        "put" => Input::Put {
            key: words.string("key")?,
            value: words.string("value")?,
        },
        "get" => Input::Get {
            key: words.string("key")?,
        },
        "delete" => Input::Delete {
            key: words.string("key")?,
        },
        "cas" => Input::Cas {
            key: words.string("key")?,
            expected: words.option("expected value")?,
            new: words.string("new value")?,
        },
        "range" => Input::Range {
            start: words.string("range start")?,
            end: words.string("range end")?,
        },
        word => return Err(format!("unknown operation `{word}`")),
    };
    words.literal("->")?;
    let output = match words.next("output")? {
        "?" => None,
        "ok" => Some(Output::Put),
        "some" => Some(Output::Get(Some(words.string("value")?))),
        "none" => Some(Output::Get(None)),
        "deleted" => Some(Output::Delete {
            deleted: words.number("deleted count")?,
        }),
        "cas" => Some(Output::Cas {
            succeeded: words.number("cas outcome")?,
        }),
        "range" => {
            let count: usize = words.number("pair count")?;
            let mut pairs = Vec::new();
            for _ in 0..count {
                pairs.push((words.string("key")?, words.string("value")?));
            }
            Some(Output::Range(pairs))
        }
        word => return Err(format!("unknown output `{word}`")),
    };
    if let Some(word) = words.words.next() {
        return Err(format!("unexpected `{word}` at end of line"));
    }
    if return_ms.is_none() != output.is_none() {
        return Err("return time and output must both be known or both be `?`".into());
    }
    if let Some(output) = &output {
        if !input.matches(output) {
            return Err(format!("output `{output}` does not answer `{input}`"));
        }
    }
    Ok(Operation {
        id,
        client,
        call_ms,
        return_ms,
        input,
        output,
    })
}

fn encode_option(value: &Option<String>) -> String {
    match value {
        Some(value) => encode(value),
        None => "none".into(),
    }
}

fn encode(text: &str) -> String {
    let mut encoded = String::from("=");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.:/+-".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn decode(word: &str) -> Result<String, String> {
    let Some(body) = word.strip_prefix('=') else {
        return Err(format!(
            "expected a string starting with `=`, found `{word}`"
        ));
    };
    let mut bytes = Vec::with_capacity(body.len());
    let mut rest = body.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail
                .get(..2)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| format!("bad percent escape in `{word}`"))?;
            bytes.push(hex);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| format!("`{word}` is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, return_ms: Option<u64>, input: Input, output: Option<Output>) -> Operation {
        Operation {
            id,
            client: id as u32 % 3,
            call_ms: id * 10,
            return_ms,
            input,
            output,
        }
    }

    #[test]
    fn text_round_trip_covers_every_kind() {
        let history = History {
            ops: vec![
                op(
                    1,
                    Some(15),
                    Input::Put {
                        key: "k 1".into(),
                        value: "v%1\n".into(),
                    },
                    Some(Output::Put),
                ),
                op(2, None, Input::Get { key: "".into() }, None),
                op(
                    3,
                    Some(40),
                    Input::Get { key: "k1".into() },
                    Some(Output::Get(Some("".into()))),
                ),
                op(
                    4,
                    Some(41),
                    Input::Get { key: "k1".into() },
                    Some(Output::Get(None)),
                ),
                op(
                    5,
                    Some(60),
                    Input::Delete {
                        key: "ключ".into()
                    },
                    Some(Output::Delete { deleted: 1 }),
                ),
                op(
                    6,
                    Some(70),
                    Input::Cas {
                        key: "k".into(),
                        expected: None,
                        new: "n".into(),
                    },
                    Some(Output::Cas { succeeded: false }),
                ),
                op(
                    7,
                    None,
                    Input::Cas {
                        key: "k".into(),
                        expected: Some("none".into()),
                        new: "=".into(),
                    },
                    None,
                ),
                op(
                    8,
                    Some(90),
                    Input::Range {
                        start: "a".into(),
                        end: "z".into(),
                    },
                    Some(Output::Range(vec![
                        ("a".into(), "1".into()),
                        ("b c".into(), "2".into()),
                    ])),
                ),
                op(
                    9,
                    Some(95),
                    Input::Range {
                        start: "a".into(),
                        end: "b".into(),
                    },
                    Some(Output::Range(vec![])),
                ),
            ],
        };
        let text = history.to_text();
        assert_eq!(History::from_text(&text), Ok(history), "text:\n{text}");
    }

    #[test]
    fn from_text_names_the_bad_line() {
        let text = "# cairn history v1\nop 1 client 0 call 5 return 6 get =k -> ok\n";
        let error = History::from_text(text).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("does not answer"), "{error}");
        let error = History::from_text("op 1 client 0 call 5 return ? get =k -> none").unwrap_err();
        assert!(error.message.contains("both"), "{error}");
        assert!(History::from_text("op 1 client 0 call 5 return 9 get k -> none").is_err());
    }

    #[test]
    fn overlap_is_closed_and_indeterminate_extends_forever() {
        let get = |call_ms, return_ms| Operation {
            id: 0,
            client: 0,
            call_ms,
            return_ms,
            input: Input::Get { key: "k".into() },
            output: return_ms.map(|_| Output::Get(None)),
        };
        assert!(get(0, Some(10)).overlaps(&get(10, Some(20))));
        assert!(!get(0, Some(9)).overlaps(&get(10, Some(20))));
        assert!(get(0, None).overlaps(&get(100, Some(200))));
        assert!(!get(300, None).overlaps(&get(100, Some(200))));
    }
}

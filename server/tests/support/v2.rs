//! Tools for the v2 API's differential tests: an HTTP/1.1 client that sends
//! forms (one request per connection, a kept-alive connection for many, or a
//! long poll whose headers come before its body), form encoding as Go's
//! `url.Values.Encode` writes it, and a JSON reader that keeps what
//! `serde_json::Value` loses: the order of an object's keys and the string
//! escapes as sent (etcd's Go encoder has a fixed field order and writes
//! `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`).

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub use super::http::Answer;

/// How long one exchange may take (a long poll's body: see
/// [`Pending::finish`]).
pub const TIMEOUT: Duration = Duration::from_secs(10);

fn invalid(text: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, text.into())
}

fn timed_out(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what}: no answer in time"),
    )
}

/// `pairs` as `application/x-www-form-urlencoded` (Go's `url.QueryEscape`:
/// letters, digits and `-_.~` as they are, space as `+`, the rest `%XX`).
pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One component of a query or form, escaped as Go's `url.QueryEscape`.
pub fn escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The status line and headers of an answer.
#[derive(Debug, Clone)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 connection to `127.0.0.1:port`.
pub struct Connection {
    port: u16,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    pub async fn open(port: u16) -> std::io::Result<Connection> {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .map_err(|_| timed_out("connect"))??;
        stream.set_nodelay(true)?;
        Ok(Connection {
            port,
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes a request: `form` (if any) as a urlencoded body; `close` asks
    /// the server to close the connection after answering.
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        form: Option<&str>,
        close: bool,
    ) -> std::io::Result<()> {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: cairn-test\r\nAccept: */*\r\n",
            self.port
        );
        if let Some(form) = form {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            head.push_str(&format!("Content-Length: {}\r\n", form.len()));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.push_str(form.unwrap_or_default());
        self.stream.write_all(head.as_bytes()).await
    }

    /// Reads more bytes into the buffer; false at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Reads the status line and headers.
    pub async fn read_head(&mut self) -> std::io::Result<Head> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
                self.buf.drain(..end + 4);
                let mut lines = head.split("\r\n");
                let status_line = lines.next().unwrap_or_default();
                let status = status_line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| invalid(format!("not a status line: {status_line:?}")))?;
                let headers = lines
                    .filter_map(|line| line.split_once(':'))
                    .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                return Ok(Head { status, headers });
            }
            if !self.fill().await? {
                return Err(invalid(format!(
                    "the connection closed before the headers: {:?}",
                    String::from_utf8_lossy(&self.buf)
                )));
            }
        }
    }

    /// Reads the body that `head` announces (none to a HEAD request).
    pub async fn read_body(&mut self, head: &Head, method: &str) -> std::io::Result<String> {
        if method == "HEAD" || head.status / 100 == 1 || head.status == 204 || head.status == 304 {
            return Ok(String::new());
        }
        let chunked = head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            self.read_chunked().await?
        } else if let Some(length) = head.header("content-length") {
            let length: usize = length
                .parse()
                .map_err(|_| invalid(format!("content-length {length:?}")))?;
            while self.buf.len() < length {
                if !self.fill().await? {
                    return Err(invalid("the connection closed inside the body"));
                }
            }
            self.buf.drain(..length).collect()
        } else {
            while self.fill().await? {}
            std::mem::take(&mut self.buf)
        };
        String::from_utf8(body).map_err(|e| invalid(format!("body not UTF-8: {e}")))
    }

    async fn read_line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).to_string();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if !self.fill().await? {
                return Err(invalid("the connection closed inside a chunked body"));
            }
        }
    }

    /// The next chunk of a chunked body; None after the last.
    async fn read_chunk(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let line = self.read_line().await?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| invalid(format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, up to an empty line.
            while !self.read_line().await?.is_empty() {}
            return Ok(None);
        }
        while self.buf.len() < size + 2 {
            if !self.fill().await? {
                return Err(invalid("the connection closed inside a chunk"));
            }
        }
        let chunk = self.buf.drain(..size).collect();
        self.buf.drain(..2);
        Ok(Some(chunk))
    }

    async fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        while let Some(chunk) = self.read_chunk().await? {
            body.extend(chunk);
        }
        Ok(body)
    }

    /// One request and its answer on this (kept-alive) connection.
    pub async fn exchange(
        &mut self,
        method: &str,
        target: &str,
        form: Option<&str>,
    ) -> std::io::Result<Answer> {
        let exchange = async {
            self.send(method, target, form, false).await?;
            let head = self.read_head().await?;
            let body = self.read_body(&head, method).await?;
            Ok(Answer {
                status: head.status,
                headers: head.headers,
                body,
            })
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .map_err(|_| timed_out(&format!("{method} {target}")))?
    }
}

/// `method target` (with a urlencoded `form`) on a connection of its own.
pub async fn request(
    port: u16,
    method: &str,
    target: &str,
    form: Option<&str>,
) -> std::io::Result<Answer> {
    let exchange = async {
        let mut connection = Connection::open(port).await?;
        connection.send(method, target, form, true).await?;
        let head = connection.read_head().await?;
        let body = connection.read_body(&head, method).await?;
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
        })
    };
    tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| timed_out(&format!("{method} {target}")))?
}

/// A GET whose headers have come and whose body has not (a `wait=true`
/// long poll: etcd writes the headers once the watcher is in place).
pub struct Pending {
    connection: Connection,
    head: Head,
}

impl Pending {
    /// Sends `GET target` and reads the headers.
    pub async fn start(port: u16, target: &str) -> std::io::Result<Pending> {
        let start = async {
            let mut connection = Connection::open(port).await?;
            connection.send("GET", target, None, true).await?;
            let head = connection.read_head().await?;
            Ok(Pending { connection, head })
        };
        tokio::time::timeout(TIMEOUT, start)
            .await
            .map_err(|_| timed_out(&format!("GET {target}")))?
    }

    /// Reads the body as it comes until it holds `lines` newlines (or
    /// ends), within `within`; the connection is closed after (a client
    /// that leaves a `stream=true` watch).
    pub async fn read_lines(mut self, lines: usize, within: Duration) -> std::io::Result<Answer> {
        let chunked = self
            .head
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let connection = &mut self.connection;
        let read = async {
            let mut body = Vec::new();
            while body.iter().filter(|&&b| b == b'\n').count() < lines {
                if chunked {
                    match connection.read_chunk().await? {
                        Some(chunk) => body.extend(chunk),
                        None => break,
                    }
                } else {
                    body.append(&mut connection.buf);
                    if !connection.fill().await? {
                        body.append(&mut connection.buf);
                        break;
                    }
                }
            }
            if !chunked {
                body.append(&mut connection.buf);
            }
            String::from_utf8(body).map_err(|e| invalid(format!("body not UTF-8: {e}")))
        };
        let body = tokio::time::timeout(within, read)
            .await
            .map_err(|_| timed_out("the stream's events"))??;
        Ok(Answer {
            status: self.head.status,
            headers: self.head.headers,
            body,
        })
    }

    /// Reads the body, within `within`.
    pub async fn finish(mut self, within: Duration) -> std::io::Result<Answer> {
        let body = tokio::time::timeout(within, self.connection.read_body(&self.head, "GET"))
            .await
            .map_err(|_| timed_out("the long poll's body"))??;
        Ok(Answer {
            status: self.head.status,
            headers: self.head.headers,
            body,
        })
    }
}

/// JSON as sent: objects keep their keys' order, strings and numbers their
/// text (escapes undecoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text.
    Num(String),
    /// The text between the quotes, escapes as sent.
    Str(String),
    Arr(Vec<Json>),
    /// Keys as sent (between the quotes), in order.
    Obj(Vec<(String, Json)>),
}

/// A JSON text read: the value, whether whitespace separated any of its
/// tokens, and the text after it.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub value: Json,
    pub spaced: bool,
    pub rest: String,
}

impl Json {
    /// Reads the JSON value at the start of `text`.
    pub fn parse(text: &str) -> Result<Parsed, String> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            at: 0,
            spaced: false,
        };
        reader.skip_space_at_start();
        let value = reader.value()?;
        Ok(Parsed {
            value,
            spaced: reader.spaced,
            rest: text[reader.at..].to_string(),
        })
    }

    /// The member named `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        match self {
            Json::Obj(members) => members.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string's decoded text.
    pub fn text(&self) -> Option<String> {
        match self {
            Json::Str(raw) => serde_json::from_str(&format!("\"{raw}\"")).ok(),
            _ => None,
        }
    }

    /// A number's value, if it is an unsigned integer.
    pub fn uint(&self) -> Option<u64> {
        match self {
            Json::Num(text) => text.parse().ok(),
            _ => None,
        }
    }
}

impl fmt::Display for Json {
    /// Compact, strings as sent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) => f.write_str(n),
            Json::Str(s) => write!(f, "\"{s}\""),
            Json::Arr(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Obj(members) => {
                f.write_str("{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "\"{k}\":{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    spaced: bool,
}

impl Reader<'_> {
    fn skip_space_at_start(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn skip_space(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
            self.spaced = true;
        }
    }

    fn error<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.at))
    }

    fn eat(&mut self, byte: u8) -> Result<(), String> {
        self.skip_space();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            self.error(&format!("expected {:?}", byte as char))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_space();
        match self.bytes.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.skip_space();
                    let key = self.string()?;
                    self.eat(b':')?;
                    let value = self.value()?;
                    members.push((key, value));
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Obj(members));
                        }
                        _ => return self.error("expected , or }"),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.skip_space();
                if self.bytes.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.skip_space();
                    match self.bytes.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return self.error("expected , or ]"),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'n') => self.word("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.at += 1;
                }
                Ok(Json::Num(
                    String::from_utf8_lossy(&self.bytes[start..self.at]).to_string(),
                ))
            }
            _ => self.error("expected a value"),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            self.error(&format!("expected {word}"))
        }
    }

    /// A string's raw text, the reader on its opening quote.
    fn string(&mut self) -> Result<String, String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return self.error("expected a string");
        }
        self.at += 1;
        let start = self.at;
        loop {
            match self.bytes.get(self.at) {
                None => return self.error("unterminated string"),
                Some(b'\\') => self.at += 2,
                Some(b'"') => {
                    let raw = String::from_utf8_lossy(&self.bytes[start..self.at]).to_string();
                    self.at += 1;
                    return Ok(raw);
                }
                Some(_) => self.at += 1,
            }
        }
    }
}

/// Seconds since the Unix epoch of an RFC 3339 time
/// (`2006-01-02T15:04:05.999999999Z07:00`), or why it is not one.
pub fn rfc3339_seconds(text: &str) -> Result<f64, String> {
    let bad = || format!("not an RFC 3339 time: {text:?}");
    let b = text.as_bytes();
    let digits = |from: usize, len: usize| -> Result<i64, String> {
        let part = text.get(from..from + len).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (year, month, day) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    let (hour, minute, second) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(bad());
    }
    let mut at = 19;
    let mut fraction = 0.0;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return Err(bad());
        }
        fraction = format!("0.{}", &text[start..at])
            .parse()
            .map_err(|_| bad())?;
    }
    let offset = match b.get(at) {
        Some(b'Z') if at + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let minutes = digits(at + 1, 2)? * 60 + digits(at + 4, 2)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return Err(bad()),
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Ok(seconds as f64 + fraction)
}

/// The wall clock in seconds since the Unix epoch.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

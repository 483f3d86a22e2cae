//! Log lines in etcd's formats, written to stderr (or the configured
//! outputs) one whole line at a time as events happen. Operators and tools
//! watch for etcd's wording ("ready to serve client requests", "published
//! {Name:...} to cluster ..."), so the texts follow etcd 3.4's.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Severity, as capnslog's letters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Notice,
    Warning,
    Error,
}

impl Level {
    fn letter(self) -> char {
        match self {
            Level::Debug => 'D',
            Level::Info => 'I',
            Level::Notice => 'N',
            Level::Warning => 'W',
            Level::Error => 'E',
        }
    }

    fn word(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info | Level::Notice => "info",
            Level::Warning => "warn",
            Level::Error => "error",
        }
    }
}

/// Where and how lines go.
pub struct Logger {
    json: bool,
    min: Level,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("json", &self.json)
            .field("min", &self.min)
            .finish()
    }
}

impl Logger {
    /// `json` selects etcd's zap format (`--logger=zap`); otherwise capnslog's.
    pub fn new(json: bool, min: Level, out: Box<dyn Write + Send>) -> Logger {
        Logger {
            json,
            min,
            out: Mutex::new(out),
        }
    }

    pub fn log(&self, level: Level, package: &str, message: &str) {
        self.log_fields(level, package, message, &[]);
    }

    /// A line with zap's structured fields (`"address":"..."` after `msg`);
    /// in capnslog's format they follow the message as `key=value`.
    /// Like [`Logger::log_fields`], with values that are JSON already
    /// (lists, numbers) and go into zap's lines as they are.
    pub fn log_json_fields(
        &self,
        level: Level,
        package: &str,
        message: &str,
        fields: &[(&str, String)],
    ) {
        if !self.json {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            return self.log_fields(level, package, message, &fields);
        }
        if level < self.min {
            return;
        }
        let (date, time) = civil_now();
        let mut extra = String::new();
        for (key, value) in fields {
            extra.push_str(&format!(",{}:{value}", json_string(key)));
        }
        let line = format!(
            "{{\"level\":\"{}\",\"ts\":\"{date}T{time}Z\",\"caller\":\"{package}\",\"msg\":{}{extra}}}\n",
            level.word(),
            json_string(message)
        );
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    pub fn log_fields(&self, level: Level, package: &str, message: &str, fields: &[(&str, &str)]) {
        if level < self.min {
            return;
        }
        let (date, time) = civil_now();
        let line = if self.json {
            let mut extra = String::new();
            for (key, value) in fields {
                extra.push_str(&format!(",{}:{}", json_string(key), json_string(value)));
            }
            format!(
                "{{\"level\":\"{}\",\"ts\":\"{date}T{time}Z\",\"caller\":\"{package}\",\"msg\":{}{extra}}}\n",
                level.word(),
                json_string(message)
            )
        } else {
            let mut extra = String::new();
            for (key, value) in fields {
                extra.push_str(&format!(" {key}={value}"));
            }
            format!(
                "{date} {time} {} | {package}: {message}{extra}\n",
                level.letter()
            )
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    pub fn debug(&self, package: &str, message: &str) {
        self.log(Level::Debug, package, message);
    }

    pub fn info(&self, package: &str, message: &str) {
        self.log(Level::Info, package, message);
    }

    pub fn notice(&self, package: &str, message: &str) {
        self.log(Level::Notice, package, message);
    }

    pub fn warn(&self, package: &str, message: &str) {
        self.log(Level::Warning, package, message);
    }

    pub fn error(&self, package: &str, message: &str) {
        self.log(Level::Error, package, message);
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// UTC date and time with microseconds: ("2006-01-02", "15:04:05.000000").
fn civil_now() -> (String, String) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            since.subsec_micros()
        ),
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm). The v2 API's RFC 3339 times use it too.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}

//! The gateway's log lines: etcd's gateway logs with zap's production
//! logger, one JSON object a line on stderr, with fields after the message:
//!
//! ```text
//! {"level":"info","ts":1796553250.115,"caller":"tcpproxy","msg":"ready to proxy client requests","endpoints":["127.0.0.1:2379"]}
//! ```
//!
//! `ts` is Unix seconds as a float and durations are seconds, as zap's
//! production encoder writes them; `caller` names cairn's component rather
//! than a Go source line.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A field's value.
#[derive(Debug, Clone)]
pub enum Field {
    String(String),
    Strings(Vec<String>),
    Seconds(Duration),
}

/// A field's value as JSON text.
pub fn json(value: &Field) -> String {
    match value {
        Field::String(text) => serde_json::Value::from(text.as_str()).to_string(),
        Field::Strings(list) => serde_json::Value::from(list.clone()).to_string(),
        Field::Seconds(duration) => go_float(duration.as_secs_f64()),
    }
}

/// A float as Go's `strconv.FormatFloat(f, 'f', -1, 64)` writes it: the
/// shortest digits, no exponent, no `.0` on whole numbers.
fn go_float(value: f64) -> String {
    format!("{value}")
}

/// The line for `level`, `msg` and `fields` at time `ts` (Unix seconds).
pub fn line(level: &str, ts: f64, caller: &str, msg: &str, fields: &[(&str, Field)]) -> String {
    let mut out = format!(
        "{{\"level\":{},\"ts\":{},\"caller\":{},\"msg\":{}",
        serde_json::Value::from(level),
        go_float(ts),
        serde_json::Value::from(caller),
        serde_json::Value::from(msg)
    );
    for (name, value) in fields {
        out.push_str(&format!(
            ",{}:{}",
            serde_json::Value::from(*name),
            json(value)
        ));
    }
    out.push_str("}\n");
    out
}

fn write(level: &str, msg: &str, fields: &[(&str, Field)]) {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let text = line(level, ts, "tcpproxy", msg, fields);
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

pub fn info(msg: &str, fields: &[(&str, Field)]) {
    write("info", msg, fields);
}

pub fn warn(msg: &str, fields: &[(&str, Field)]) {
    write("warn", msg, fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_zaps() {
        assert_eq!(
            line(
                "info",
                1.5,
                "tcpproxy",
                "ready to proxy client requests",
                &[("endpoints", Field::Strings(vec!["127.0.0.1:2379".into()]))]
            ),
            "{\"level\":\"info\",\"ts\":1.5,\"caller\":\"tcpproxy\",\"msg\":\"ready to proxy client requests\",\"endpoints\":[\"127.0.0.1:2379\"]}\n"
        );
        assert!(line(
            "warn",
            2.0,
            "tcpproxy",
            "deactivated endpoint",
            &[("interval", Field::Seconds(Duration::from_secs(60)))]
        )
        .contains("\"interval\":60}"));
    }
}

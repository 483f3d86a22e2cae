//! Form values of a v2 request, parsed as Go's `net/http` parses them
//! (`Request.ParseForm`): the query string, then for `POST`, `PUT` and
//! `PATCH` with `Content-Type: application/x-www-form-urlencoded` the body,
//! whose values come first. Pairs split on `&`, keys and values unescaped
//! as `url.QueryUnescape` does (`+` is a space, `%XX` a byte); the first
//! bad escape or semicolon is the error etcd reports (code 209), though the
//! rest is still parsed, as Go does.

use std::collections::BTreeMap;

/// Parsed form values: every value of every key, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    values: BTreeMap<String, Vec<String>>,
}

impl Form {
    /// Parses a query string and (if given) a urlencoded body; the error is
    /// Go's text for the first malformed pair.
    pub fn parse(query: &str, body: Option<&[u8]>) -> (Form, Option<String>) {
        let mut form = Form::default();
        let mut first_error = None;
        if let Some(body) = body {
            let body = String::from_utf8_lossy(body);
            if let Err(e) = form.add_pairs(&body) {
                first_error.get_or_insert(e);
            }
        }
        if let Err(e) = form.add_pairs(query) {
            first_error.get_or_insert(e);
        }
        (form, first_error)
    }

    fn add_pairs(&mut self, text: &str) -> Result<(), String> {
        let mut error = None;
        for pair in text.split('&') {
            if pair.is_empty() {
                continue;
            }
            if pair.contains(';') {
                error.get_or_insert_with(|| "invalid semicolon separator in query".to_string());
                continue;
            }
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = match unescape(key) {
                Ok(key) => key,
                Err(e) => {
                    error.get_or_insert(e);
                    continue;
                }
            };
            let value = match unescape(value) {
                Ok(value) => value,
                Err(e) => {
                    error.get_or_insert(e);
                    continue;
                }
            };
            self.values.entry(key).or_default().push(value);
        }
        error.map_or(Ok(()), Err)
    }

    /// Whether the key was given at all (even empty).
    pub fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// The key's first value, or "" (Go's `FormValue`).
    pub fn value(&self, key: &str) -> &str {
        self.values
            .get(key)
            .and_then(|values| values.first())
            .map_or("", String::as_str)
    }

    /// The first value parsed as Go's `strconv.ParseBool`; absent is false.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, ()> {
        if !self.has(key) {
            return Ok(false);
        }
        parse_bool(self.value(key))
    }

    /// The first value parsed as Go's `strconv.ParseUint(v, 10, 64)`;
    /// absent is 0.
    pub(crate) fn uint(&self, key: &str) -> Result<u64, ()> {
        if !self.has(key) {
            return Ok(0);
        }
        parse_uint(self.value(key))
    }
}

/// Go's `strconv.ParseBool`.
pub(crate) fn parse_bool(text: &str) -> Result<bool, ()> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(()),
    }
}

/// Go's `strconv.ParseUint(text, 10, 64)`: ASCII digits only, no sign, no
/// spaces; underscores are not allowed in base 10.
pub(crate) fn parse_uint(text: &str) -> Result<u64, ()> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    text.parse().map_err(|_| ())
}

/// Go's `url.QueryUnescape`, with its error text.
pub fn unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3);
                match hex.and_then(|h| Some((hex_value(h[0])?, hex_value(h[1])?))) {
                    Some((high, low)) => out.push(high << 4 | low),
                    None => {
                        let end = (i + 3).min(bytes.len());
                        let bad = String::from_utf8_lossy(&bytes[i..end]);
                        return Err(format!("invalid URL escape {bad:?}"));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_of_the_body_come_before_the_query() {
        let (form, error) = Form::parse("value=q&ttl=5", Some(b"value=b+1%21&dir"));
        assert_eq!(error, None);
        assert_eq!(form.value("value"), "b 1!");
        assert_eq!(form.value("ttl"), "5");
        assert!(form.has("dir"));
        assert_eq!(form.value("dir"), "");
        assert_eq!(form.value("absent"), "");
    }

    #[test]
    fn bad_escapes_are_go_errors_and_the_rest_is_kept() {
        let (form, error) = Form::parse("a=%zz&b=2&c=%4", None);
        assert_eq!(error.as_deref(), Some("invalid URL escape \"%zz\""));
        assert_eq!(form.value("b"), "2");
        assert!(!form.has("a"));
        assert_eq!(unescape("%4").unwrap_err(), "invalid URL escape \"%4\"");
        let (_, error) = Form::parse("a=1;b=2", None);
        assert_eq!(
            error.as_deref(),
            Some("invalid semicolon separator in query")
        );
    }

    #[test]
    fn bools_and_uints_as_go_parses_them() {
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(parse_bool(yes), Ok(true));
        }
        for bad in ["", "yes", "tRUE", " true"] {
            assert_eq!(parse_bool(bad), Err(()));
        }
        assert_eq!(parse_uint("18446744073709551615"), Ok(u64::MAX));
        for bad in ["", "-1", "+1", "1e3", " 1", "18446744073709551616", "1_0"] {
            assert_eq!(parse_uint(bad), Err(()), "{bad}");
        }
    }

    proptest! {
        // Seeds: proptest prints the failing case and keeps it in
        // server/proptest-regressions/; rerun with `cargo test -p cairn-server v2::form`.
        #[test]
        fn parsing_never_panics(query in ".{0,64}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Form::parse(&query, Some(&body));
        }

        #[test]
        fn escaped_values_come_back(key in "[a-zA-Z]{1,8}", value in ".{0,32}") {
            let escaped: String = value.bytes().map(|b| format!("%{b:02X}")).collect();
            let (form, error) = Form::parse(&format!("{key}={escaped}"), None);
            prop_assert_eq!(error, None);
            prop_assert_eq!(form.value(&key), value.as_str());
        }
    }
}

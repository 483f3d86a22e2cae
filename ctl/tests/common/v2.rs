//! The harness for `ETCDCTL_API=2`: servers with `--enable-v2`, and v2's
//! indexes masked (etcd's v2 store also counts membership and auth writes,
//! cairn's only key writes: docs/v2.md), with expirations.
//!
//! ```text
//!   "Error:  100: Key not found (/foo) [12]"  ─▶ "... (/foo) [N]"
//!   "Index: 12", "\"modifiedIndex\":12"      ─▶ "Index: N", "...:N"
//! ```

use super::Case;

/// The env every v2 case carries.
pub const V2: &[(&str, &str)] = &[("ETCDCTL_API", "2")];

/// Runs the cases on the three sides, v2 servers, v2 masking.
pub fn compare_v2(cases: &[Case]) {
    super::compare_with(cases, &["--enable-v2"], mask_v2);
}

/// Every number after each of `markers` becomes `N`; every quoted string
/// after `"expiration":` becomes `"T"`.
pub fn mask_v2(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let mut line = line.to_string();
        for marker in [
            "Index: ",
            "\"createdIndex\":",
            "\"modifiedIndex\":",
            "\"ttl\":",
            "ETCD_WATCH_MODIFIED_INDEX=",
        ] {
            line = mask_numbers_after(&line, marker);
        }
        line = mask_strings_after(&line, "\"expiration\":\"");
        // An index comparison's cause: "([1 != 9])".
        if line.contains("Compare failed ([") {
            line = mask_numbers_after(&line, " != ");
        }
        if line.starts_with("Error:  ") {
            if let Some(open) = line.rfind(" [") {
                let close = line[open..].find(']').map(|i| open + i);
                if let Some(close) = close {
                    if line[open + 2..close].chars().all(|c| c.is_ascii_digit()) {
                        line = format!("{} [N{}", &line[..open], &line[close..]);
                    }
                }
            }
        }
        out.push_str(&line);
    }
    out
}

fn mask_numbers_after(line: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        let digits = rest[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        if digits > 0 {
            out.push('N');
        }
        rest = &rest[start + digits..];
    }
    out.push_str(rest);
    out
}

fn mask_strings_after(line: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let start = at + marker.len();
        out.push_str(&rest[..start]);
        out.push('T');
        let end = rest[start..].find('"').map_or(rest.len(), |i| start + i);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

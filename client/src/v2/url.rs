//! URLs and bodies as Go's `net/url` writes them for etcd's client: keys
//! paths cleaned and escaped, forms encoded with sorted keys, and the Basic
//! authorization token.

/// `/v2/keys` + the key, cleaned as etcd's `pathutil.CanonicalURLPath`
/// cleans it (a trailing slash kept), and escaped.
pub fn keys_path(key: &str) -> String {
    let raw = format!("/v2/keys/{}", key.strip_prefix('/').unwrap_or(key));
    escape_path(&canonical_path(&raw))
}

/// etcd's `CanonicalURLPath`: a leading `/`, `.`/`..`/`//` resolved, a
/// trailing `/` kept.
pub fn canonical_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut clean = format!("/{}", parts.join("/"));
    if path.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    clean
}

/// Percent-escapes a URL path as Go's `url.URL.EscapedPath` does.
pub fn escape_path(path: &str) -> String {
    let mut out = String::new();
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded`, keys sorted as Go's
/// `url.Values.Encode` sorts them.
pub fn encode_form(pairs: &[(&str, String)]) -> String {
    let mut sorted = pairs.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", escape_query(k), escape_query(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn with_query(path: String, pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", encode_form(pairs))
    }
}

/// Go's `url.QueryEscape`.
fn escape_query(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Standard base64 (for the Basic authorization header).
pub fn base64_encode(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(TABLE[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_and_escaped_as_etcds_client_does() {
        assert_eq!(keys_path("/foo"), "/v2/keys/foo");
        assert_eq!(keys_path("foo/../bar"), "/v2/keys/bar");
        assert_eq!(keys_path("/dir/sub/"), "/v2/keys/dir/sub/");
        assert_eq!(keys_path("/a b"), "/v2/keys/a%20b");
        assert_eq!(keys_path("/"), "/v2/keys/");
    }

    #[test]
    fn forms_and_credentials_are_encoded() {
        let form = encode_form(&[("value", "a b&c".into()), ("ttl", "5".into())]);
        assert_eq!(form, "ttl=5&value=a+b%26c");
        assert_eq!(base64_encode(b"root:pw"), "cm9vdDpwdw==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }
}

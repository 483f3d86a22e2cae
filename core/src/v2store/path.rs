//! Paths as etcd's v2 store treats them.

/// Cleans a path as etcd does (`path.Clean("/" + p)`): absolute, no empty,
/// `.` or `..` segments (`..` at the root stays at the root), no trailing
/// slash; the root is `/`.
pub fn clean_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    let mut cleaned = String::with_capacity(path.len() + 1);
    for segment in &segments {
        cleaned.push('/');
        cleaned.push_str(segment);
    }
    if cleaned.is_empty() {
        cleaned.push('/');
    }
    cleaned
}

/// The path of `name` in the directory `dir` (both clean).
pub(super) fn child_path(dir: &str, name: &str) -> String {
    let mut path = String::with_capacity(dir.len() + name.len() + 1);
    path.push_str(dir);
    if dir != "/" {
        path.push('/');
    }
    path.push_str(name);
    path
}

/// A clean path other than the root split into its directory and its name.
pub(super) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(at) => (&path[..at], &path[at + 1..]),
        None => ("/", path),
    }
}

/// How deep a clean path is: the root 0, `/a` 1, `/a/b` 2.
pub(super) fn depth(path: &str) -> usize {
    if path == "/" {
        0
    } else {
        path.bytes().filter(|&b| b == b'/').count()
    }
}

/// etcd's `node.IsHidden`: a name starting with `_`.
pub(super) fn is_hidden_name(name: &str) -> bool {
    name.starts_with('_')
}

/// etcd's `isHidden(watchPath, keyPath)`: whether the part of `key` below
/// `watch` has a hidden segment.
pub(super) fn is_hidden_below(watch: &str, key: &str) -> bool {
    match key.get(watch.len()..) {
        Some(rest) if watch.len() <= key.len() => clean_path(rest).contains("/_"),
        _ => false,
    }
}

/// Whether `path` is `dir` or below it (both clean).
pub(super) fn is_at_or_below(path: &str, dir: &str) -> bool {
    dir == "/"
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

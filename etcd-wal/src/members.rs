//! A new cluster's membership as etcd 3.4 writes it when it bootstraps one
//! (`etcdctl snapshot restore`, a new member's first start): the member
//! JSON of the conf change entries' context, and the v2 store JSON that
//! the first `*.snap` file holds.
//!
//! ```text
//!   member JSON  {"id":<u64>,"peerURLs":[..],"name":".."}   (name omitted if "")
//!   v2 store     /0/members/<id hex>/raftAttributes = {"peerURLs":[..]}
//!                created one member after the other (v2 indexes 1..n), with
//!                the store's event history (a 1000-slot ring) and stats
//! ```
//!
//! The JSON is Go's `encoding/json` output: map keys sorted, strings with
//! `<`, `>`, `&` and U+2028/U+2029 escaped.

/// A member of the initial cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub id: u64,
    pub name: String,
    /// Sorted, as etcd's `types.NewURLs` sorts them.
    pub peer_urls: Vec<String>,
}

/// Go's `json.Marshal` of a string (HTML characters and U+2028/U+2029
/// escaped); cairnctl's JSON printer uses it too.
pub fn go_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", ch as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| go_string(s)).collect();
    format!("[{}]", items.join(","))
}

/// `json.Marshal(membership.Member)` of a member just made (no client
/// URLs yet): the context of its conf change entry.
pub fn member_json(member: &NewMember) -> String {
    member_record_json(member.id, &member.peer_urls, false, &member.name, &[])
}

/// `json.Marshal(membership.Member)`: `id`, `peerURLs`, then `isLearner`,
/// `name` and `clientURLs` when set (Go's `omitempty`). The value of a
/// member in etcd's `members` bucket, and a conf change's context.
pub fn member_record_json(
    id: u64,
    peer_urls: &[String],
    is_learner: bool,
    name: &str,
    client_urls: &[String],
) -> String {
    let mut json = format!("{{\"id\":{id},\"peerURLs\":{}", string_list(peer_urls));
    if is_learner {
        json.push_str(",\"isLearner\":true");
    }
    if !name.is_empty() {
        json.push_str(&format!(",\"name\":{}", go_string(name)));
    }
    if !client_urls.is_empty() {
        json.push_str(&format!(",\"clientURLs\":{}", string_list(client_urls)));
    }
    json.push('}');
    json
}

/// v2store's `node` JSON (children already rendered, `None` for a leaf).
fn node(path: &str, index: u64, value: &str, children: Option<String>) -> String {
    format!(
        "{{\"Path\":{},\"CreatedIndex\":{index},\"ModifiedIndex\":{index},\"ExpireTime\":\"0001-01-01T00:00:00Z\",\"Value\":{},\"Children\":{}}}",
        go_string(path),
        go_string(value),
        children.unwrap_or_else(|| "null".to_string())
    )
}

/// A Go map's JSON: `(key, value JSON)` pairs, keys sorted.
fn map(mut pairs: Vec<(String, String)>) -> String {
    pairs.sort();
    let items: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{}:{v}", go_string(&k)))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// etcd's v2 store (`st.Save()`) after a new cluster's members were added
/// to a fresh store, in `members`' order (etcd adds them sorted by ID).
pub fn bootstrap_v2_store(members: &[NewMember]) -> Vec<u8> {
    const CAPACITY: usize = 1000;
    let count = members.len() as u64;
    let mut member_nodes = Vec::new();
    let mut events = Vec::new();
    for (i, member) in members.iter().enumerate() {
        let index = i as u64 + 1;
        let dir = format!("/0/members/{:x}", member.id);
        let key = format!("{dir}/raftAttributes");
        let value = format!("{{\"peerURLs\":{}}}", string_list(&member.peer_urls));
        let leaf = node(&key, index, &value, None);
        let children = map(vec![("raftAttributes".to_string(), leaf)]);
        member_nodes.push((
            format!("{:x}", member.id),
            node(&dir, index, "", Some(children)),
        ));
        events.push(format!(
            "{{\"action\":\"create\",\"node\":{{\"key\":{},\"value\":{},\"modifiedIndex\":{index},\"createdIndex\":{index}}}}}",
            go_string(&key),
            go_string(&value)
        ));
    }
    let mut cluster = Vec::new();
    if !members.is_empty() {
        cluster.push((
            "members".to_string(),
            node("/0/members", 1, "", Some(map(member_nodes))),
        ));
    }
    let root_children = map(vec![
        ("0".to_string(), node("/0", 0, "", Some(map(cluster)))),
        ("1".to_string(), node("/1", 0, "", Some("{}".to_string()))),
    ]);
    let root = node("/", 0, "", Some(root_children));
    // The ring: event i in slot i - 1 (fewer than CAPACITY members).
    let size = events.len().min(CAPACITY);
    let mut slots: Vec<String> = events.into_iter().take(CAPACITY).collect();
    slots.resize(CAPACITY, "null".to_string());
    let start = u64::from(count > 0);
    let stats = [
        "getsSuccess",
        "getsFail",
        "setsSuccess",
        "setsFail",
        "deleteSuccess",
        "deleteFail",
        "updateSuccess",
        "updateFail",
        "createSuccess",
        "createFail",
        "compareAndSwapSuccess",
        "compareAndSwapFail",
        "compareAndDeleteSuccess",
        "compareAndDeleteFail",
        "expireCount",
        "watchers",
    ]
    .iter()
    .map(|name| {
        let value = if *name == "createSuccess" { count } else { 0 };
        format!("\"{name}\":{value}")
    })
    .collect::<Vec<_>>()
    .join(",");
    format!(
        "{{\"Root\":{root},\"WatcherHub\":{{\"EventHistory\":{{\"Queue\":{{\"Events\":[{}],\"Size\":{size},\"Front\":0,\"Back\":{},\"Capacity\":{CAPACITY}}},\"StartIndex\":{start},\"LastIndex\":{count}}}}},\"CurrentIndex\":{count},\"Stats\":{{{stats}}},\"CurrentVersion\":2}}",
        slots.join(","),
        size % CAPACITY,
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_member() -> NewMember {
        NewMember {
            id: 0x8e9e_05c5_2164_694d,
            name: "default".into(),
            peer_urls: vec!["http://localhost:2380".into()],
        }
    }

    #[test]
    fn member_json_is_gos() {
        assert_eq!(
            member_json(&default_member()),
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#
        );
        assert_eq!(go_string("a<b>&\u{1}"), r#""a\u003cb\u003e\u0026\u0001""#);
        assert_eq!(
            member_record_json(1, &[], true, "", &["http://c:1".into()]),
            r#"{"id":1,"peerURLs":[],"isLearner":true,"clientURLs":["http://c:1"]}"#
        );
    }

    /// The store etcdctl 3.4.23's `snapshot restore` wrote with its
    /// defaults, up to the event ring's empty slots.
    #[test]
    fn a_one_member_store_is_etcds() {
        let json = String::from_utf8(bootstrap_v2_store(&[default_member()])).unwrap();
        let head = r#"{"Root":{"Path":"/","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"0":{"Path":"/0","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"members":{"Path":"/0/members","CreatedIndex":1,"ModifiedIndex":1,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"8e9e05c52164694d":{"Path":"/0/members/8e9e05c52164694d","CreatedIndex":1,"ModifiedIndex":1,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{"raftAttributes":{"Path":"/0/members/8e9e05c52164694d/raftAttributes","CreatedIndex":1,"ModifiedIndex":1,"ExpireTime":"0001-01-01T00:00:00Z","Value":"{\"peerURLs\":[\"http://localhost:2380\"]}","Children":null}}}}}}},"1":{"Path":"/1","CreatedIndex":0,"ModifiedIndex":0,"ExpireTime":"0001-01-01T00:00:00Z","Value":"","Children":{}}}},"WatcherHub":{"EventHistory":{"Queue":{"Events":[{"action":"create","node":{"key":"/0/members/8e9e05c52164694d/raftAttributes","value":"{\"peerURLs\":[\"http://localhost:2380\"]}","modifiedIndex":1,"createdIndex":1}},null,"#;
        let tail = r#"null],"Size":1,"Front":0,"Back":1,"Capacity":1000},"StartIndex":1,"LastIndex":1}},"CurrentIndex":1,"Stats":{"getsSuccess":0,"getsFail":0,"setsSuccess":0,"setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"createSuccess":1,"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0},"CurrentVersion":2}"#;
        assert!(json.starts_with(head), "{json}");
        assert!(json.ends_with(tail), "{json}");
        assert_eq!(json.matches("null").count(), 999 + 1);
    }
}

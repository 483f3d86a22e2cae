//! The v2 API's JSON: answers, errors and options, shaped as etcd's Go
//! client shapes them (field order and omissions of its `-o json`).

use serde::{Deserialize, Serialize};

/// An error etcd's v2 keys API answered (`{"errorCode":..}`); its text is
/// etcd's `100: Key not found (/foo) [12]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdError {
    #[serde(rename = "errorCode", default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub cause: String,
    #[serde(default)]
    pub index: u64,
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({}) [{}]",
            self.code, self.message, self.cause, self.index
        )
    }
}

/// Why a v2 call failed, worded as etcd's client words it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Error {
    /// The server's error JSON.
    Etcd(EtcdError),
    /// Every endpoint failed (etcd's `ClusterError`): one text per try.
    Cluster(Vec<String>),
    /// No endpoint to try.
    NoEndpoints,
    /// The total time ran out.
    Deadline,
    /// Any other failure (a members or auth API message, a bad answer).
    Message(String),
}

impl V2Error {
    /// Whether every try failed to connect (etcdctl's `isConnectionError`).
    pub fn is_connection_error(&self) -> bool {
        match self {
            V2Error::Cluster(errors) => errors.iter().all(|e| e.starts_with("dial ")),
            V2Error::Deadline => true,
            _ => false,
        }
    }

    /// etcd's `ClusterError.Detail()`: one line per try.
    pub fn detail(&self) -> Option<String> {
        match self {
            V2Error::Cluster(errors) => Some(
                errors
                    .iter()
                    .enumerate()
                    .map(|(i, e)| format!("error #{i}: {e}\n"))
                    .collect(),
            ),
            _ => None,
        }
    }
}

impl std::fmt::Display for V2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            V2Error::Etcd(error) => error.fmt(f),
            V2Error::Cluster(errors) => {
                write!(f, "client: etcd cluster is unavailable or misconfigured")?;
                for (i, e) in errors.iter().enumerate() {
                    writeln!(f, "; error #{i}: {e}")?;
                }
                Ok(())
            }
            V2Error::NoEndpoints => write!(f, "client: no endpoints available"),
            V2Error::Deadline => write!(f, "context deadline exceeded"),
            V2Error::Message(text) => write!(f, "{text}"),
        }
    }
}

impl std::error::Error for V2Error {}

/// A node of the v2 tree; serialized with Go's field order and omissions
/// (etcdctl's `-o json` prints it as Go marshals it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dir: bool,
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub nodes: Option<Vec<Node>>,
    #[serde(rename = "createdIndex", default)]
    pub created_index: u64,
    #[serde(rename = "modifiedIndex", default)]
    pub modified_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ttl: i64,
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A keys API answer; `index` is the `X-Etcd-Index` header (not in JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysResponse {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub node: Option<Node>,
    #[serde(rename = "prevNode", default)]
    pub prev_node: Option<Node>,
    #[serde(skip)]
    pub index: u64,
}

impl KeysResponse {
    /// The answer as etcd's client marshals it (`-o json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A cluster member of `/v2/members`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Member {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
}

/// The `prevExist` condition of a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PrevExist {
    #[default]
    Ignore,
    Exist,
    NoExist,
}

/// A keys API set (`PUT`), as etcd's client `SetOptions` builds it.
#[derive(Clone, Debug, Default)]
pub struct SetOptions {
    pub prev_value: String,
    pub prev_index: u64,
    pub prev_exist: PrevExist,
    pub ttl: u64,
    pub dir: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_marshal_in_gos_field_order() {
        let body = br#"{"action":"set","node":{"key":"/a","value":"b","modifiedIndex":4,"createdIndex":4}}"#;
        let response: KeysResponse = serde_json::from_slice(body).expect("json");
        assert_eq!(
            response.to_json(),
            r#"{"action":"set","node":{"key":"/a","value":"b","nodes":null,"createdIndex":4,"modifiedIndex":4},"prevNode":null}"#
        );
        let error = EtcdError {
            code: 100,
            message: "Key not found".into(),
            cause: "/foo".into(),
            index: 12,
        };
        assert_eq!(error.to_string(), "100: Key not found (/foo) [12]");
    }
}

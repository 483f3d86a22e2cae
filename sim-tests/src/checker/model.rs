//! The etcd KV model in its plainest form: a sorted map and one function per input.
//!
//! The search uses an interned, undoable copy of these rules ([`super::compiled`]);
//! this one is kept because it is easy to read and check against etcd, and because
//! the generator, the explanations and the tests need a model that works on strings.

use std::collections::BTreeMap;

use crate::history::{Input, Key, Output, Value};

/// The state of an etcd keyspace, as far as the checked operations can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvModel {
    pub entries: BTreeMap<Key, Value>,
}

impl KvModel {
    /// Applies `input` as etcd would and returns what etcd would answer.
    pub fn apply(&mut self, input: &Input) -> Output {
        match input {
            Input::Put { key, value } => {
                self.entries.insert(key.clone(), value.clone());
                Output::Put
            }
            Input::Get { key } => Output::Get(self.entries.get(key).cloned()),
            Input::Delete { key } => Output::Delete {
                deleted: u64::from(self.entries.remove(key).is_some()),
            },
            Input::Cas { key, expected, new } => {
                let succeeded = self.entries.get(key) == expected.as_ref();
                if succeeded {
                    self.entries.insert(key.clone(), new.clone());
                }
                Output::Cas { succeeded }
            }
            Input::Range { start, end } => {
                if start >= end {
                    return Output::Range(Vec::new());
                }
                let pairs = self
                    .entries
                    .range::<Key, _>(start..end)
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
                Output::Range(pairs)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_etcd_semantics() {
        let mut model = KvModel::default();
        let put = |key: &str, value: &str| Input::Put {
            key: key.into(),
            value: value.into(),
        };
        assert_eq!(model.apply(&put("b", "1")), Output::Put);
        assert_eq!(model.apply(&put("a", "2")), Output::Put);
        let cas = |expected: Option<&str>, new: &str| Input::Cas {
            key: "a".into(),
            expected: expected.map(Into::into),
            new: new.into(),
        };
        assert_eq!(
            model.apply(&cas(None, "x")),
            Output::Cas { succeeded: false }
        );
        assert_eq!(
            model.apply(&cas(Some("2"), "3")),
            Output::Cas { succeeded: true }
        );
        let range = |start: &str, end: &str| Input::Range {
            start: start.into(),
            end: end.into(),
        };
        assert_eq!(
            model.apply(&range("a", "c")),
            Output::Range(vec![("a".into(), "3".into()), ("b".into(), "1".into())])
        );
        assert_eq!(model.apply(&range("b", "b")), Output::Range(vec![]));
        assert_eq!(model.apply(&range("c", "a")), Output::Range(vec![]));
        let delete = Input::Delete { key: "a".into() };
        assert_eq!(model.apply(&delete), Output::Delete { deleted: 1 });
        assert_eq!(model.apply(&delete), Output::Delete { deleted: 0 });
        assert_eq!(
            model.apply(&cas(None, "y")),
            Output::Cas { succeeded: true }
        );
        assert_eq!(
            model.apply(&Input::Get { key: "a".into() }),
            Output::Get(Some("y".into()))
        );
    }
}

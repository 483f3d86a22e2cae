//! Terse construction of hand-made histories for the checker tests.
#![allow(dead_code)] // Each test file uses a different subset.

use cairn_sim_tests::history::{History, Input, Operation, Output};

/// Builds a history one operation at a time; ids count from 0 in call order of the
/// builder calls. Times are `(call_ms, return_ms)`; `None` as the return makes the
/// operation indeterminate.
#[derive(Debug, Default)]
pub struct Builder {
    ops: Vec<Operation>,
}

impl Builder {
    pub fn new() -> Self {
        Builder::default()
    }

    pub fn history(&self) -> History {
        History {
            ops: self.ops.clone(),
        }
    }

    fn push(
        &mut self,
        client: u32,
        call_ms: u64,
        return_ms: Option<u64>,
        input: Input,
        output: Output,
    ) -> u64 {
        let id = self.ops.len() as u64;
        self.ops.push(Operation {
            id,
            client,
            call_ms,
            return_ms,
            input,
            output: return_ms.map(|_| output),
        });
        id
    }

    pub fn put(
        &mut self,
        client: u32,
        call_ms: u64,
        return_ms: Option<u64>,
        key: &str,
        value: &str,
    ) -> u64 {
        let input = Input::Put {
            key: key.into(),
            value: value.into(),
        };
        self.push(client, call_ms, return_ms, input, Output::Put)
    }

    pub fn get(
        &mut self,
        client: u32,
        call_ms: u64,
        return_ms: u64,
        key: &str,
        value: Option<&str>,
    ) -> u64 {
        let input = Input::Get { key: key.into() };
        self.push(
            client,
            call_ms,
            Some(return_ms),
            input,
            Output::Get(value.map(Into::into)),
        )
    }

    pub fn delete(
        &mut self,
        client: u32,
        call_ms: u64,
        return_ms: Option<u64>,
        key: &str,
        deleted: u64,
    ) -> u64 {
        let input = Input::Delete { key: key.into() };
        self.push(
            client,
            call_ms,
            return_ms,
            input,
            Output::Delete { deleted },
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub fn cas(
        &mut self,
        client: u32,
        call_ms: u64,
        return_ms: Option<u64>,
        key: &str,
        expected: Option<&str>,
        new: &str,
        succeeded: bool,
    ) -> u64 {
        let input = Input::Cas {
            key: key.into(),
            expected: expected.map(Into::into),
            new: new.into(),
        };
        self.push(client, call_ms, return_ms, input, Output::Cas { succeeded })
    }

    pub fn range(
        &mut self,
        client: u32,
        call_ms: u64,
        return_ms: u64,
        start: &str,
        end: &str,
        pairs: &[(&str, &str)],
    ) -> u64 {
        let input = Input::Range {
            start: start.into(),
            end: end.into(),
        };
        let pairs = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        self.push(
            client,
            call_ms,
            Some(return_ms),
            input,
            Output::Range(pairs),
        )
    }
}

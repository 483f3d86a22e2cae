//! What every service stands on: the member, reached through typed calls,
//! and the token provider that says who is calling.

use std::sync::Arc;

use cairn_core::auth::Caller;
use cairn_core::member::{Call, CallResult, Header};
use cairn_runtime_tokio::MemberHandle;
use tonic::{Request, Status};

use super::errors;
use super::tokens::TokenProvider;

/// The member and the callers' tokens, shared by every service.
#[derive(Clone, Debug)]
pub struct Backend {
    handle: MemberHandle,
    tokens: Arc<TokenProvider>,
}

impl Backend {
    pub fn new(handle: MemberHandle, tokens: Arc<TokenProvider>) -> Backend {
        Backend { handle, tokens }
    }

    pub fn handle(&self) -> &MemberHandle {
        &self.handle
    }

    /// Reads callers' tokens and issues new ones (`--auth-token`).
    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// Who sends `request` (its token, else its client certificate).
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.tokens.caller(request)
    }

    /// Makes `call` as `caller`; an error becomes etcd's status for it.
    pub async fn call<C: Call>(
        &self,
        caller: Caller,
        call: C,
    ) -> Result<(Header, C::Response), Status> {
        self.handle
            .call(caller, call)
            .await
            .map_err(|(_, error)| errors::client_error(&error))
    }

    /// Makes `call` as `caller`, keeping an error as the member gave it, with
    /// its header, for the services that answer some errors themselves.
    pub async fn try_call<C: Call>(&self, caller: Caller, call: C) -> CallResult<C::Response> {
        self.handle.call(caller, call).await
    }
}

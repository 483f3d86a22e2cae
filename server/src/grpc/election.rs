//! etcd's `v3electionpb.Election` service: cairn-client's [`Election`] run
//! inside the member, as the caller (etcd 3.4's `etcdserver/api/v3election`).
//!
//! ```text
//!   Campaign{name, lease, value} ──▶ Election(name).campaign(value)
//!        └─▶ {header, leader: LeaderKey{name, key, rev, lease}}
//!   Proclaim{leader, value} / Resign{leader} ──▶ Election::resume(leader key)
//!   Leader{name} ──▶ {header, kv of the first-created key}
//!   Observe{name} ──▶ stream of {header, kv}: each leader and its new values
//! ```
//!
//! Sessions are made on the caller's lease without keep-alive: the caller
//! keeps its own lease alive. Every call goes through [`InProcess`] with the
//! caller's credentials.

use std::pin::Pin;

use cairn_client::concurrency::{Election, Session, SessionOptions};
use cairn_client::Client;
use cairn_proto::v3electionpb::{self as electionpb, election_server};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::errors;
use super::in_process::{recipe_status, InProcess};

/// etcd's `ErrMissingLeaderKey`.
const MISSING_LEADER_KEY: &str = "\"leader\" field must be provided";

/// The `Election` service.
#[derive(Clone, Debug)]
pub struct ElectionService {
    in_process: InProcess,
}

impl ElectionService {
    pub fn new(in_process: InProcess) -> ElectionService {
        ElectionService { in_process }
    }
}

/// A session on `lease` that the server does not keep alive (etcd's
/// `electionServer.session`: a session orphaned at once).
async fn session(client: &Client, lease: i64) -> Result<Session, Status> {
    let options = SessionOptions::default()
        .with_lease(lease)
        .without_keep_alive();
    Session::new(client, options).await.map_err(recipe_status)
}

/// The leader key a Proclaim or Resign names, resumed as an election.
async fn resume(
    client: &Client,
    leader: Option<electionpb::LeaderKey>,
) -> Result<Election, Status> {
    let leader = leader.ok_or_else(|| errors::unknown(MISSING_LEADER_KEY))?;
    let session = session(client, leader.lease).await?;
    Ok(Election::resume(
        &session,
        &leader.name,
        leader.key,
        leader.rev,
    ))
}

/// The leaders an Observe call streams.
pub type LeaderStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<electionpb::LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl election_server::Election for ElectionService {
    async fn campaign(
        &self,
        request: Request<electionpb::CampaignRequest>,
    ) -> Result<Response<electionpb::CampaignResponse>, Status> {
        let client = self.in_process.client_for(&request);
        let request = request.into_inner();
        let session = session(&client, request.lease).await?;
        let mut election = Election::new(&session, &request.name);
        election
            .campaign(request.value)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(electionpb::CampaignResponse {
            header: election.header(),
            leader: Some(electionpb::LeaderKey {
                name: request.name,
                key: election.key().clone(),
                rev: election.rev(),
                lease: session.lease(),
            }),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<electionpb::ProclaimRequest>,
    ) -> Result<Response<electionpb::ProclaimResponse>, Status> {
        let client = self.in_process.client_for(&request);
        let request = request.into_inner();
        let mut election = resume(&client, request.leader).await?;
        election
            .proclaim(request.value)
            .await
            .map_err(recipe_status)?;
        Ok(Response::new(electionpb::ProclaimResponse {
            header: election.header(),
        }))
    }

    async fn leader(
        &self,
        request: Request<electionpb::LeaderRequest>,
    ) -> Result<Response<electionpb::LeaderResponse>, Status> {
        let client = self.in_process.client_for(&request);
        let session = session(&client, -1).await?;
        let election = Election::new(&session, &request.into_inner().name);
        let leader = election.leader().await.map_err(recipe_status)?;
        Ok(Response::new(electionpb::LeaderResponse {
            header: leader.header,
            kv: leader.kvs.into_iter().next(),
        }))
    }

    type ObserveStream = LeaderStream;

    async fn observe(
        &self,
        request: Request<electionpb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let client = self.in_process.client_for(&request);
        let session = session(&client, -1).await?;
        let election = Election::new(&session, &request.into_inner().name);
        let mut observer = election.observe();
        let (sender, receiver) = mpsc::channel(1);
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    next = observer.next() => next,
                    _ = sender.closed() => return,
                };
                let Some(leader) = next else { return };
                let response = electionpb::LeaderResponse {
                    header: Some(leader.header),
                    kv: Some(leader.kv),
                };
                if sender.send(Ok(response)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn resign(
        &self,
        request: Request<electionpb::ResignRequest>,
    ) -> Result<Response<electionpb::ResignResponse>, Status> {
        let client = self.in_process.client_for(&request);
        let mut election = resume(&client, request.into_inner().leader).await?;
        election.resign().await.map_err(recipe_status)?;
        Ok(Response::new(electionpb::ResignResponse {
            header: election.header(),
        }))
    }
}

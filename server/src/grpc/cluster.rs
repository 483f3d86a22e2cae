//! etcd's `Cluster` service: list, add, remove, update and promote members.
//!
//! The leader decides membership changes (core's `membership.rs`); a member
//! that is not the leader sends the request on to the leader's client URL,
//! so a client may ask any member, as with etcd. A new member's ID is derived
//! here, as etcd derives it: from its peer URLs, the cluster token and the
//! time of the request.

use cairn_core::auth::Caller;
use cairn_core::member::{calls, ClientError, MemberChange, MemberStatus};
use cairn_core::raft::NodeId;
use cairn_proto::etcdserverpb as pb;
use pb::cluster_client::ClusterClient;
use tonic::{Request, Response, Status};

use super::backend::Backend;
use super::convert;
use super::errors;
use super::leader::LeaderLink;
use crate::config::Url;
use crate::ids;

/// What the service needs of the member's configuration.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// `--initial-cluster-token`: part of every member ID.
    pub token: String,
}

/// The `Cluster` service.
#[derive(Clone, Debug)]
pub struct ClusterService {
    backend: Backend,
    leader: LeaderLink,
    settings: ClusterSettings,
}

impl ClusterService {
    pub fn new(backend: Backend, leader: LeaderLink, settings: ClusterSettings) -> ClusterService {
        ClusterService {
            backend,
            leader,
            settings,
        }
    }

    /// Makes `change` here; "not leader" means: ask the leader.
    async fn change(
        &self,
        change: MemberChange,
    ) -> Result<Option<(cairn_core::member::Header, Vec<MemberStatus>)>, Status> {
        match self.backend.try_call(Caller::Anonymous, change).await {
            Ok(answer) => Ok(Some(answer)),
            Err((_, ClientError::NotLeader)) => Ok(None),
            Err((_, error)) => Err(errors::client_error(&error)),
        }
    }

    async fn leader_client(&self) -> Result<ClusterClient<tonic::transport::Channel>, Status> {
        Ok(ClusterClient::new(self.leader.channel().await?))
    }
}

/// Peer URLs as etcd's `types.NewURLs` takes them: each with an http(s) or
/// unix(s) scheme and a host:port, no path; sorted. Anything else is etcd's
/// "given member URLs are invalid".
fn peer_urls(urls: &[String]) -> Result<Vec<String>, Status> {
    let bad = || errors::MEMBER_BAD_URLS.status();
    if urls.is_empty() {
        return Err(bad());
    }
    let mut parsed: Vec<String> = urls
        .iter()
        .map(|url| Url::parse(url).map(|u| u.to_string()).map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    parsed.sort();
    Ok(parsed)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn find(members: &[MemberStatus], id: NodeId) -> Option<pb::Member> {
    members
        .iter()
        .find(|m| m.id == id)
        .cloned()
        .map(convert::member_of)
}

fn cluster_header(header: &cairn_core::member::Header) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision: 0,
        ..convert::header(header)
    })
}

fn members_of(members: Vec<MemberStatus>) -> Vec<pb::Member> {
    members.into_iter().map(convert::member_of).collect()
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        let inner = request.get_ref();
        let urls = peer_urls(&inner.peer_ur_ls)?;
        let id = ids::member_id(&urls, &self.settings.token, Some(unix_now()));
        let change = MemberChange::Add {
            id,
            peer_urls: urls,
            learner: inner.is_learner,
        };
        match self.change(change).await? {
            Some((header, members)) => {
                let member = find(&members, id);
                Ok(Response::new(pb::MemberAddResponse {
                    header: cluster_header(&header),
                    member,
                    members: members_of(members),
                }))
            }
            None => {
                let mut leader = self.leader_client().await?;
                leader.member_add(request.into_inner()).await
            }
        }
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        let id = request.get_ref().id;
        match self.change(MemberChange::Remove { id }).await? {
            Some((header, members)) => Ok(Response::new(pb::MemberRemoveResponse {
                header: cluster_header(&header),
                members: members_of(members),
            })),
            None => {
                let mut leader = self.leader_client().await?;
                leader.member_remove(request.into_inner()).await
            }
        }
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        let inner = request.get_ref();
        let change = MemberChange::Update {
            id: inner.id,
            peer_urls: peer_urls(&inner.peer_ur_ls)?,
        };
        match self.change(change).await? {
            Some((header, members)) => Ok(Response::new(pb::MemberUpdateResponse {
                header: cluster_header(&header),
                members: members_of(members),
            })),
            None => {
                let mut leader = self.leader_client().await?;
                leader.member_update(request.into_inner()).await
            }
        }
    }

    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let (header, members) = self
            .backend
            .call(Caller::Anonymous, calls::MemberList)
            .await?;
        Ok(Response::new(convert::member_list_response(
            &header, members,
        )))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        let id = request.get_ref().id;
        match self.change(MemberChange::Promote { id }).await? {
            Some((header, members)) => Ok(Response::new(pb::MemberPromoteResponse {
                header: cluster_header(&header),
                members: members_of(members),
            })),
            None => {
                let mut leader = self.leader_client().await?;
                leader.member_promote(request.into_inner()).await
            }
        }
    }
}

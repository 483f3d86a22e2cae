//! Leader-aware routing in a 3-member cluster of real `cairn` processes:
//! the leader is found (also from a follower's endpoint alone, through the
//! member list), calls on it keep their channel, and after the leader is
//! killed a new one is found and calls go there.

mod support;

use std::time::{Duration, Instant};

use cairn_client::{Client, ClientConfig, Endpoint, Idempotence};
use cairn_proto::etcdserverpb as pb;
use support::Cluster;

/// Bounds waiting for the cluster to elect a new leader.
const ELECTION_WAIT: Duration = Duration::from_secs(20);

/// The member id that answers a status call on `channel`, and the leader it
/// names.
async fn status_via(client: &Client) -> Result<(u64, u64), tonic::Status> {
    client
        .leader_call(Idempotence::Idempotent, |channel| async move {
            let status = pb::maintenance_client::MaintenanceClient::new(channel)
                .status(pb::StatusRequest {})
                .await?
                .into_inner();
            let member_id = status.header.map_or(0, |header| header.member_id);
            Ok((member_id, status.leader))
        })
        .await
}

fn index_of(cluster: &Cluster, endpoint: &Endpoint) -> usize {
    (0..cluster.members.len())
        .find(|&i| cluster.endpoint(i).same_server(endpoint))
        .unwrap_or_else(|| panic!("{endpoint} is not a member's"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_is_found_and_found_again_after_it_dies() {
    let mut cluster = Cluster::start("leader", 3, &[]).await;
    let client = Client::connect(ClientConfig::new(cluster.endpoints()))
        .await
        .expect("connects");

    let leader = cluster.leader().await.expect("a leader");
    let found = client.leader_endpoint().await.expect("leader found");
    assert_eq!(index_of(&cluster, &found), leader);
    let (answered_by, named) = status_via(&client).await.expect("status at the leader");
    assert_eq!(answered_by, named, "the leader answers leader calls");

    // A client that knows only a follower finds the leader's URL through
    // the member list.
    let follower = (leader + 1) % 3;
    let lone = Client::connect(ClientConfig::new(vec![cluster.endpoint(follower)]))
        .await
        .expect("connects");
    let found = lone.leader_endpoint().await.expect("leader found");
    assert_eq!(index_of(&cluster, &found), leader);

    // Keep-alives go to the leader.
    let grant = client
        .lease()
        .lease_grant(pb::LeaseGrantRequest { ttl: 30, id: 0 })
        .await
        .expect("grant")
        .into_inner();
    let ttl = client
        .leader_call(Idempotence::Idempotent, |channel| async move {
            let request = tokio_stream::once(pb::LeaseKeepAliveRequest { id: grant.id });
            let mut responses = pb::lease_client::LeaseClient::new(channel)
                .lease_keep_alive(request)
                .await?
                .into_inner();
            let response = responses.message().await?;
            Ok(response.map_or(0, |response| response.ttl))
        })
        .await
        .expect("keep-alive at the leader");
    assert_eq!(ttl, 30);

    cluster.kill(leader);
    let deadline = Instant::now() + ELECTION_WAIT;
    let (new_leader_id, new_index) = loop {
        // The retry policy rides out the election; a long one may need
        // another round.
        if let Ok((answered_by, named)) = status_via(&client).await {
            if answered_by == named {
                let found = client.leader_endpoint().await.expect("leader cached");
                break (answered_by, index_of(&cluster, &found));
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new leader within {ELECTION_WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(new_index, leader, "the dead member is not the leader");
    assert_eq!(cluster.leader().await, Some(new_index));
    assert_ne!(new_leader_id, 0);
}

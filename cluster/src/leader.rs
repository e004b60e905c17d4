//! Reaching the leader from any node: writes and read indexes go to the
//! current leader, locally when this node leads, over RPC otherwise.
//!
//! openraft 0.9 does not route requests (deps.md): a follower's
//! `client_write` fails with `ForwardToLeader`. This module follows the
//! leader as the Raft metrics report it, retrying across an election.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openraft::BasicNode;

use crate::error::{Error, Result};
use crate::raft::{Raft, Request, Response};
use crate::rpc::{RemoteError, RpcConnection, RpcRequest, RpcResponse, Secret, SessionHandoff};
use tokio::net::TcpStream;

/// How long a request keeps looking for a leader (an election takes about
/// a second).
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while there is no leader.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long the leader waits for a majority to take an entry before the
/// proposer hears an error (the entry may still commit later: callers
/// that must know check, as the enqueuer does).
pub const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// A member that has not heard from a leader backed by a majority for this
/// long considers itself cut off (heartbeats come every 250 ms; an
/// election takes 1–2 s).
pub const CONTACT_TIMEOUT: Duration = Duration::from_secs(3);

/// The way to the leader.
pub struct LeaderLink {
    raft: Raft,
    node_id: u64,
    secret: Secret,
    pool: Mutex<HashMap<String, Vec<RpcConnection>>>,
    /// When a leader last showed this follower that it leads (replication
    /// accepted, a forwarded request answered).
    last_contact: Mutex<Option<Instant>>,
}

impl LeaderLink {
    /// Creates the link for node `node_id`.
    pub fn new(raft: Raft, node_id: u64, secret: Secret) -> LeaderLink {
        LeaderLink {
            raft,
            node_id,
            secret,
            pool: Mutex::new(HashMap::new()),
            last_contact: Mutex::new(None),
        }
    }

    /// Notes that the current leader just reached this member.
    pub fn heard_from_leader(&self) {
        if let Ok(mut last) = self.last_contact.lock() {
            *last = Some(Instant::now());
        }
    }

    /// Whether this member is in touch with a leader that a majority
    /// follows: the leader itself checks its last quorum acknowledgement, a
    /// follower when it last heard from the leader. A member cut off by a
    /// partition answers `false` within [`CONTACT_TIMEOUT`], so that it
    /// refuses work at once instead of waiting for commits that cannot
    /// happen.
    pub fn in_contact(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        match m.current_leader {
            Some(leader) if leader == self.node_id => {
                // Not acknowledged yet (just elected): unknown, not cut off.
                let alone = m.membership_config.membership().voter_ids().count() <= 1;
                alone
                    || m.millis_since_quorum_ack
                        .is_none_or(|ms| ms < CONTACT_TIMEOUT.as_millis() as u64)
            }
            Some(_) => self
                .last_contact
                .lock()
                .ok()
                .and_then(|last| *last)
                .is_some_and(|t| t.elapsed() < CONTACT_TIMEOUT),
            None => false,
        }
    }

    /// This member's own `client_write` as leader, bounded by
    /// [`COMMIT_TIMEOUT`]; `Ok(None)` when it turns out not to lead.
    ///
    /// # Errors
    /// The entry was not committed in time, or Raft failed.
    pub async fn write_as_leader(&self, request: Request) -> Result<Option<(Response, u64)>> {
        match tokio::time::timeout(COMMIT_TIMEOUT, self.raft.client_write(request)).await {
            Err(_) => Err(Error::Commit(format!(
                "not committed within {} s (no majority?)",
                COMMIT_TIMEOUT.as_secs()
            ))),
            Ok(Ok(r)) => Ok(Some((r.data, r.log_id.index))),
            Ok(Err(e)) if e.forward_to_leader::<BasicNode>().is_some() => Ok(None),
            Ok(Err(e)) => Err(Error::Commit(e.to_string())),
        }
    }

    /// The leader's id and address, as this node currently knows them.
    pub fn leader(&self) -> Option<(u64, String)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let id = m.current_leader?;
        let addr = m.membership_config.membership().get_node(&id)?.addr.clone();
        Some((id, addr))
    }

    /// Commits `request` through the leader.
    ///
    /// # Errors
    /// No leader within [`LEADER_WAIT`], or the commit failed.
    pub async fn client_write(&self, request: Request) -> Result<Response> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            // Every arm that does not return means: no usable leader yet.
            match self.leader() {
                Some((id, _)) if id == self.node_id => {
                    if let Some((response, _)) = self.write_as_leader(request.clone()).await? {
                        return Ok(response);
                    }
                }
                Some((_, addr)) => match self
                    .call(&addr, RpcRequest::ClientWrite(request.clone()))
                    .await
                {
                    Ok(RpcResponse::ClientWrite(Ok((r, index)))) => {
                        self.heard_from_leader();
                        // Read your writes: the caller looks at the local
                        // state next, so wait until it has this entry.
                        let applied = self
                            .raft
                            .wait(Some(LEADER_WAIT))
                            .applied_index_at_least(Some(index), "forwarded write applied")
                            .await;
                        return applied.map(|_| r).map_err(|e| Error::Commit(e.to_string()));
                    }
                    Ok(RpcResponse::ClientWrite(Err(RemoteError::Failed(e)))) => {
                        return Err(Error::Commit(e));
                    }
                    _ => {}
                },
                None => {}
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::NotLeader { leader: None });
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Waits until this node has applied everything committed before the
    /// call: a read afterwards is linearizable (the read-index protocol,
    /// with the leader confirming its leadership first).
    ///
    /// # Errors
    /// No leader within [`LEADER_WAIT`].
    pub async fn catch_up(&self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let index = match self.leader() {
                Some((id, _)) if id == self.node_id => {
                    let confirmed =
                        tokio::time::timeout(CONTACT_TIMEOUT, self.raft.ensure_linearizable());
                    match confirmed.await {
                        // The leader's own call also waits for its apply.
                        Ok(Ok(_)) => return Ok(()),
                        _ => None,
                    }
                }
                Some((_, addr)) => match self.call(&addr, RpcRequest::ReadIndex).await {
                    Ok(RpcResponse::ReadIndex(Ok(index))) => {
                        self.heard_from_leader();
                        Some(index)
                    }
                    _ => None,
                },
                None => None,
            };
            if let Some(index) = index {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                return self
                    .raft
                    .wait(Some(left))
                    .applied_index_at_least(Some(index), "read index applied")
                    .await
                    .map(|_| ())
                    .map_err(|e| Error::Commit(e.to_string()));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::NotLeader { leader: None });
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// One request to member `node`.
    ///
    /// # Errors
    /// The node is not a member, or the call failed.
    pub async fn call_node(&self, node: u64, request: RpcRequest) -> Result<RpcResponse> {
        let addr = self.address_of(node)?;
        self.call(&addr, request).await
    }

    /// Hands a session to member `node` over a connection of its own.
    ///
    /// # Errors
    /// The node is not a member, unreachable, or refused the session.
    pub async fn open_session(&self, node: u64, handoff: SessionHandoff) -> Result<TcpStream> {
        let addr = self.address_of(node)?;
        let conn = RpcConnection::connect(&addr, &self.secret)
            .await
            .map_err(|e| Error::Commit(e.to_string()))?;
        conn.open_session(handoff)
            .await
            .map_err(|e| Error::Commit(e.to_string()))
    }

    fn address_of(&self, node: u64) -> Result<String> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.membership_config
            .membership()
            .get_node(&node)
            .map(|n| n.addr.clone())
            .ok_or_else(|| Error::Commit(format!("node {node} is not a member")))
    }

    /// One request to `addr` over a pooled connection.
    async fn call(&self, addr: &str, request: RpcRequest) -> Result<RpcResponse> {
        let pooled = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.get_mut(addr).and_then(Vec::pop));
        let mut conn = match pooled {
            Some(c) => c,
            None => RpcConnection::connect(addr, &self.secret)
                .await
                .map_err(|e| Error::Commit(e.to_string()))?,
        };
        let response = conn
            .call(&request)
            .await
            .map_err(|e| Error::Commit(e.to_string()))?;
        if let Ok(mut pool) = self.pool.lock() {
            pool.entry(addr.to_string()).or_default().push(conn);
        }
        Ok(response)
    }
}

//! Reaching the leader from any node: writes and read indexes go to the
//! current leader, locally when this node leads, over RPC otherwise.
//!
//! openraft 0.9 does not route requests (deps.md): a follower's
//! `client_write` fails with `ForwardToLeader`. This module follows the
//! leader as the Raft metrics report it, retrying across an election.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use openraft::BasicNode;

use crate::error::{Error, Result};
use crate::raft::{Raft, Request, Response};
use crate::rpc::{RemoteError, RpcConnection, RpcRequest, RpcResponse, Secret};

/// How long a request keeps looking for a leader (an election takes about
/// a second).
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between attempts while there is no leader.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The way to the leader.
pub struct LeaderLink {
    raft: Raft,
    node_id: u64,
    secret: Secret,
    pool: Mutex<HashMap<String, Vec<RpcConnection>>>,
}

impl LeaderLink {
    /// Creates the link for node `node_id`.
    pub fn new(raft: Raft, node_id: u64, secret: Secret) -> LeaderLink {
        LeaderLink {
            raft,
            node_id,
            secret,
            pool: Mutex::new(HashMap::new()),
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
                    match self.raft.client_write(request.clone()).await {
                        Ok(r) => return Ok(r.data),
                        Err(e) if e.forward_to_leader::<BasicNode>().is_some() => {}
                        Err(e) => return Err(Error::Commit(e.to_string())),
                    }
                }
                Some((_, addr)) => match self
                    .call(&addr, RpcRequest::ClientWrite(request.clone()))
                    .await
                {
                    Ok(RpcResponse::ClientWrite(Ok((r, index)))) => {
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
                    match self.raft.ensure_linearizable().await {
                        // The leader's own call also waits for its apply.
                        Ok(_) => return Ok(()),
                        Err(_) => None,
                    }
                }
                Some((_, addr)) => match self.call(&addr, RpcRequest::ReadIndex).await {
                    Ok(RpcResponse::ReadIndex(Ok(index))) => Some(index),
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
        let addr = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            m.membership_config
                .membership()
                .get_node(&node)
                .map(|n| n.addr.clone())
        };
        let addr = addr.ok_or_else(|| Error::Commit(format!("node {node} is not a member")))?;
        self.call(&addr, request).await
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

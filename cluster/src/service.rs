//! The RPC service: what this node answers to its peers.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};

use openraft::raft::AppendEntriesResponse;
use openraft::{BasicNode, ChangeMembers};

use crate::accounts::{Arrival, INBOX, SessionAcceptor, WeakHub};
use crate::command::{Command, CommandResult};
use crate::leader::LeaderLink;
use crate::raft::{Raft, Request};
use crate::rpc::{
    Delivery, Handler, MailboxDelivery, RemoteError, RpcRequest, RpcResponse, SessionHandoff,
    SessionServer,
};
use crate::state::State;
use crate::status::ClusterStatus;

/// Voters beyond this many join as non-voters (DESIGN §4).
const MAX_VOTERS: usize = 5;

/// Answers peers' requests on behalf of the local Raft member.
pub struct RpcService {
    raft: Raft,
    link: Arc<LeaderLink>,
    hub: Arc<OnceLock<WeakHub>>,
    sessions: Arc<OnceLock<Arc<dyn SessionAcceptor>>>,
    state: Arc<RwLock<State>>,
    /// Held through each membership change this node leads. Raft refuses a
    /// change while another is under way, so members started together
    /// would otherwise fail to join; with it they join one after another.
    membership: tokio::sync::Mutex<()>,
}

impl RpcService {
    /// The service for this node; `hub` and `sessions` are filled in once
    /// the node's account hub and session services exist.
    pub fn new(
        raft: Raft,
        link: Arc<LeaderLink>,
        hub: Arc<OnceLock<WeakHub>>,
        sessions: Arc<OnceLock<Arc<dyn SessionAcceptor>>>,
        state: Arc<RwLock<State>>,
    ) -> RpcService {
        RpcService {
            raft,
            link,
            hub,
            sessions,
            state,
            membership: tokio::sync::Mutex::new(()),
        }
    }

    fn status(&self) -> ClusterStatus {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        ClusterStatus::of(&self.raft, &state)
    }

    /// Removes a member: out of the voters (joint consensus), then out of
    /// the cluster.
    async fn remove_member(&self, id: u64) -> Result<(), RemoteError> {
        self.require_leader()?;
        let _one_at_a_time = self.membership.lock().await;
        let failed = |e: &dyn std::fmt::Display| RemoteError::Failed(e.to_string());
        let voter = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == id);
        if voter {
            self.raft
                .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                .await
                .map_err(|e| failed(&e))?;
        }
        self.raft
            .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
            .await
            .map_err(|e| failed(&e))?;
        Ok(())
    }

    fn hub(&self) -> Result<crate::AccountHub, RemoteError> {
        self.hub
            .get()
            .and_then(WeakHub::upgrade)
            .ok_or_else(|| RemoteError::Failed("this node serves no accounts".into()))
    }

    async fn deliver(&self, d: Delivery, mailbox: &str) -> Result<u32, RemoteError> {
        let hub = self.hub()?;
        let arrival = Arrival {
            mailbox: mailbox.to_string(),
            message: std::sync::Arc::new(d.message),
            key: d.key,
            return_path: d.return_path,
            internal_date: d.internal_date,
        };
        hub.deliver_here(&d.account, d.kind, arrival)
            .await
            .map(|uid| uid.0)
            .map_err(|e| RemoteError::Failed(e.to_string()))
    }

    /// `Err(NotLeader)` unless this node leads.
    fn require_leader(&self) -> Result<(), RemoteError> {
        let me = self.raft.metrics().borrow().id;
        match self.link.leader() {
            Some((id, _)) if id == me => Ok(()),
            other => Err(RemoteError::NotLeader(other)),
        }
    }

    async fn allocate_node_id(&self) -> Result<u64, RemoteError> {
        self.require_leader()?;
        let response = self
            .raft
            .client_write(Request(vec![Command::AllocateNodeId]))
            .await
            .map_err(|e| RemoteError::Failed(e.to_string()))?;
        match response.data.0.first() {
            Some(CommandResult::Ids(id)) => Ok(*id),
            other => Err(RemoteError::Failed(format!("unexpected result {other:?}"))),
        }
    }

    async fn add_member(&self, id: u64, addr: String) -> Result<(), RemoteError> {
        self.require_leader()?;
        let _one_at_a_time = self.membership.lock().await;
        let failed = |e: &dyn std::fmt::Display| RemoteError::Failed(e.to_string());
        // Blocking: returns once the learner has caught up with the log.
        self.raft
            .add_learner(id, BasicNode { addr }, true)
            .await
            .map_err(|e| failed(&e))?;
        let voters = self
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .count();
        if voters < MAX_VOTERS {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(|e| failed(&e))?;
        }
        Ok(())
    }
}

impl Handler for RpcService {
    async fn open_session(&self, handoff: SessionHandoff) -> Result<SessionServer, RemoteError> {
        let hub = self.hub()?;
        let acceptor = self
            .sessions
            .get()
            .cloned()
            .ok_or_else(|| RemoteError::Failed("this node serves no sessions".into()))?;
        let pin = hub
            .pin(&handoff.account)
            .await
            .map_err(|e| RemoteError::Failed(e.to_string()))?;
        Ok(Box::new(move |stream| acceptor.serve(handoff, pin, stream)))
    }

    async fn handle(&self, request: RpcRequest) -> RpcResponse {
        match request {
            RpcRequest::AppendEntries(r) => {
                let response = self.raft.append_entries(r).await;
                // Anything but a higher vote means the sender leads now.
                if matches!(&response, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_)))
                {
                    self.link.heard_from_leader();
                }
                RpcResponse::AppendEntries(response)
            }
            RpcRequest::Vote(r) => RpcResponse::Vote(self.raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => {
                RpcResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
            RpcRequest::ClientWrite(request) => {
                let result = match self.require_leader() {
                    Err(e) => Err(e),
                    // A leader cut off from the majority says so at once
                    // rather than holding the follower's request.
                    Ok(()) if !self.link.in_contact() => {
                        Err(RemoteError::Failed(crate::Error::NoQuorum.to_string()))
                    }
                    Ok(()) => match self.link.write_as_leader(request).await {
                        Ok(Some(written)) => Ok(written),
                        Ok(None) => Err(RemoteError::NotLeader(self.link.leader())),
                        Err(e) => Err(RemoteError::Failed(e.to_string())),
                    },
                };
                RpcResponse::ClientWrite(result)
            }
            RpcRequest::ReadIndex => {
                let result = match self.require_leader() {
                    Err(e) => Err(e),
                    Ok(()) => self
                        .raft
                        .ensure_linearizable()
                        .await
                        .map(|log_id| log_id.map_or(0, |l| l.index))
                        .map_err(|e| RemoteError::Failed(e.to_string())),
                };
                RpcResponse::ReadIndex(result)
            }
            RpcRequest::AllocateNodeId => RpcResponse::NodeId(self.allocate_node_id().await),
            RpcRequest::AddMember { id, addr } => {
                RpcResponse::Added(self.add_member(id, addr).await)
            }
            RpcRequest::Deliver(d) => RpcResponse::Delivered(self.deliver(d, INBOX).await),
            RpcRequest::DeliverInto(MailboxDelivery { delivery, mailbox }) => {
                RpcResponse::Delivered(self.deliver(delivery, &mailbox).await)
            }
            RpcRequest::Status => RpcResponse::Status(Box::new(self.status())),
            RpcRequest::RemoveMember { id } => RpcResponse::Removed(self.remove_member(id).await),
            RpcRequest::Yield(account) => {
                let hub = self.hub.get().and_then(WeakHub::upgrade);
                let yielded = match hub {
                    Some(hub) => hub.yield_account(&account).await,
                    None => false,
                };
                RpcResponse::Yielded(yielded)
            }
            RpcRequest::Activity => RpcResponse::Activity(
                self.sessions
                    .get()
                    .map(|a| a.activity())
                    .unwrap_or_default(),
            ),
            RpcRequest::KillSessions(account) => RpcResponse::SessionsKilled(
                self.sessions.get().map_or(0, |a| a.kill_sessions(&account)),
            ),
            // `serve_connection` hands these to `open_session`.
            RpcRequest::OpenSession(_) => RpcResponse::SessionOpened(Err(RemoteError::Failed(
                "a session handoff needs a connection of its own".into(),
            ))),
        }
    }
}

//! What `mailnode cluster status` shows: each member, its role and how far
//! it has caught up, as one node sees the cluster.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::raft::Raft;
use crate::state::State;

/// A member's published facts (registered when it starts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Its configured name (`node_name`).
    pub name: String,
    /// Its Mailnode version.
    pub version: String,
    /// The node-to-node protocol version it speaks.
    pub protocol: u32,
    /// Its service addresses by config key (`smtp`, `imap`, ...).
    pub services: BTreeMap<String, String>,
}

/// One member as seen in the status.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Raft id.
    pub id: u64,
    /// Cluster address.
    pub addr: String,
    /// Voter (or non-voter).
    pub voter: bool,
    /// The last log index the leader knows it has (leader's view only).
    pub matched: Option<u64>,
    /// What it registered.
    pub info: Option<NodeInfo>,
}

/// The cluster as one node sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The answering node.
    pub node_id: u64,
    /// Its Raft role (Leader, Follower, Learner, Candidate).
    pub role: String,
    /// The leader it knows of.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// Its last log index.
    pub last_log: Option<u64>,
    /// Its last applied index.
    pub last_applied: Option<u64>,
    /// The members.
    pub members: Vec<MemberStatus>,
}

impl ClusterStatus {
    /// The status from the local Raft metrics and registry.
    pub fn of(raft: &Raft, state: &State) -> ClusterStatus {
        let metrics = raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| MemberStatus {
                id: *id,
                addr: node.addr.clone(),
                voter: voters.contains(id),
                matched: m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten())
                    .map(|l| l.index),
                info: state.nodes.get(id).cloned(),
            })
            .collect();
        ClusterStatus {
            node_id: m.id,
            role: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            members,
        }
    }
}

impl ClusterStatus {
    /// The protocol version every registered member speaks (the oldest of
    /// theirs): what the cluster as a whole may use.
    pub fn effective_protocol(&self) -> Option<u32> {
        self.members
            .iter()
            .filter_map(|m| m.info.as_ref().map(|i| i.protocol))
            .min()
    }

    /// Whether every registered member speaks `version` or later, so
    /// what it added (a command variant, an RPC) may be used; not before
    /// the members have registered.
    pub fn speaks(&self, version: u32) -> bool {
        self.effective_protocol().is_some_and(|v| v >= version)
    }
}

impl fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        writeln!(
            f,
            "node {} ({}), leader {}, term {}, last log {}, applied {}, protocol {}",
            self.node_id,
            self.role,
            show(self.leader),
            self.term,
            show(self.last_log),
            show(self.last_applied),
            show(self.effective_protocol().map(u64::from))
        )?;
        writeln!(
            f,
            "{:<4} {:<10} {:<22} {:<9} {:<8} {:<8} version",
            "id", "name", "address", "role", "matched", "lag"
        )?;
        let head = self.last_log.unwrap_or(0);
        for m in &self.members {
            let role = match (self.leader == Some(m.id), m.voter) {
                (true, _) => "leader",
                (false, true) => "voter",
                (false, false) => "learner",
            };
            let lag = m.matched.map(|x| head.saturating_sub(x));
            let info = m.info.clone().unwrap_or_default();
            writeln!(
                f,
                "{:<4} {:<10} {:<22} {:<9} {:<8} {:<8} {} (protocol {})",
                m.id,
                info.name,
                m.addr,
                role,
                show(m.matched),
                show(lag),
                info.version,
                info.protocol
            )?;
        }
        Ok(())
    }
}

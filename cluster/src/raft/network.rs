//! The Raft transport: openraft's RPCs over the node-to-node [`crate::rpc`]
//! connections, one kept open per peer and re-made after a failure.

use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use super::TypeConfig;
use crate::rpc::{RpcConnection, RpcError, RpcRequest, RpcResponse, Secret};

/// The transport factory.
#[derive(Clone)]
pub struct Network {
    secret: Secret,
}

impl Network {
    /// A transport authenticating with `secret`.
    pub fn new(secret: Secret) -> Network {
        Network { secret }
    }
}

/// A connection to one peer.
pub struct Connection {
    target: u64,
    addr: String,
    secret: Secret,
    conn: Option<RpcConnection>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Connection {
        Connection {
            target,
            addr: node.addr.clone(),
            secret: self.secret.clone(),
            conn: None,
        }
    }
}

impl Connection {
    /// Sends one request, connecting first if needed; a failed connection
    /// is dropped so the next call reconnects.
    async fn call<E: std::error::Error>(
        &mut self,
        request: RpcRequest,
    ) -> Result<RpcResponse, RPCError<u64, BasicNode, E>> {
        let unreachable = |e: RpcError| RPCError::Unreachable(Unreachable::new(&e));
        // The connection is taken out for the call and put back only after
        // its answer arrived: openraft drops this future on its own
        // timeout, and a connection abandoned mid-call would hand the late
        // answer of one request to the next one (a stale "success" for an
        // AppendEntries that never happened).
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => RpcConnection::connect(&self.addr, &self.secret)
                .await
                .map_err(unreachable)?,
        };
        let response = conn.call(&request).await.map_err(unreachable)?;
        self.conn = Some(conn);
        Ok(response)
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<u64, BasicNode, E> {
        let e = std::io::Error::other(format!("node {} answered a different request", self.target));
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(RpcRequest::AppendEntries(rpc)).await? {
            RpcResponse::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(self.unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self.call(RpcRequest::InstallSnapshot(rpc)).await? {
            RpcResponse::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(self.unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(RpcRequest::Vote(rpc)).await? {
            RpcResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(self.unexpected()),
        }
    }
}

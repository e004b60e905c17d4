//! placeholder: being written

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::net::Stream;
use crate::server::Services;

/// placeholder
pub async fn run(stream: Stream<TcpStream>, peer: SocketAddr, services: Arc<Services>) {
    let _ = (stream, peer, services);
}

//! placeholder: being written

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::net::Stream;
use crate::server::{Service, Services};

/// placeholder
pub async fn run(stream: Stream<TcpStream>, peer: SocketAddr, service: Service, services: Arc<Services>) {
    let _ = (stream, peer, service, services);
}

//! The relay agent: carries one message to one destination over SMTP.
//!
//! It resolves the destination (a configured host, or the domain's MX hosts in preference
//! order, falling back to the domain's own A/AAAA records when it has no MX, RFC 5321 §5.1),
//! connects to the addresses in turn until one answers, and drives a
//! [`ClientSession`] over the socket, upgrading to TLS when the host offers `STARTTLS`.
//!
//! Opportunistic TLS (RFC 7435), the default: the host's certificate is **not** verified
//! ([`OpportunisticVerifier`]). Without a policy (MTA-STS, DANE) an MX host cannot be
//! authenticated anyway, and refusing an unverifiable certificate would only push the message
//! back to clear text; encryption still defeats passive listeners. Handshake signatures are
//! still checked, so the session key belongs to whoever holds the presented certificate. A
//! failed handshake is retried once without TLS on a new connection, as Postfix does.
//!
//! Verified TLS, for domains whose TLS policy (the cluster's, else `[relay] tls_policy`)
//! says `verify`
//! ([`StartTls::Required`]): STARTTLS must be offered and accepted (else `4.7.4`) and the
//! certificate must chain to a trusted CA (`tls_trust_file`, else the system's store) and
//! name the host connected to (the route's host or the MX name, RFC 6125); a failed
//! handshake tries the next address and never falls back to clear text (`4.7.5`). Either
//! way the recipients are deferred, and a warning names the host.
//!
//! Every outcome is a per-recipient [`Reply`]: 2xx delivered, 4xx retry, 5xx failed. Local
//! problems (DNS, connect, timeouts) are written as replies too (`451 4.4.1 ...`), so the
//! queue and the bounces see one shape.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::proto::{Action, ClientSession, StartTls, Transaction};
use super::route::{Destination, NextHop, SMTP_PORT};
use crate::config::RelayConfig;
use crate::smtp::proto::reply::Reply;

/// Read buffer size for server replies.
const READ_CHUNK: usize = 4096;

/// What one attempt at one destination produced.
#[derive(Debug, Clone)]
pub struct HostOutcome {
    /// The host that answered (or the destination, when none did), for the log.
    pub host: String,
    /// Whether a remote host answered (the replies are its own, not local errors).
    pub connected: bool,
    /// One reply per recipient, in the order given.
    pub replies: Vec<Reply>,
    /// The host offered DSN, so the DSN parameters went on with the message and
    /// success notices are its job from here (RFC 3461 §5.2.2).
    pub dsn: bool,
}

/// What one transaction carries besides the message.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// Reverse-path; empty for `<>`.
    pub return_path: String,
    /// Forward-paths, all routed to one destination.
    pub recipients: Vec<String>,
    /// `RET` (RFC 3461 §4.3).
    pub ret: Option<cluster::DsnRet>,
    /// `ENVID`, decoded (RFC 3461 §4.4).
    pub envid: Option<String>,
    /// DSN parameters by recipient index.
    pub rcpt_dsn: Vec<cluster::RcptDsn>,
}

/// Delivers messages to remote SMTP servers. Cheap to share: one per node.
pub struct RelayAgent {
    connect_timeout: Duration,
    command_timeout: Duration,
    helo_name: String,
    resolver: Result<TokioResolver, String>,
    tls: TlsConnector,
    /// For [`StartTls::Required`]; why not, when no CA could be loaded.
    verified_tls: Result<TlsConnector, String>,
}

/// A step of the conversation that needs the driver.
enum Step {
    Done,
    StartTls,
}

impl RelayAgent {
    /// An agent for `config`, greeting remote hosts as `helo_name`. A resolver that cannot be
    /// built (no resolv.conf) is reported on each MX lookup rather than here, so routes and
    /// the smarthost keep working.
    pub fn new(config: &RelayConfig, helo_name: String) -> RelayAgent {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.dangerous()
                    .with_custom_certificate_verifier(Arc::new(OpportunisticVerifier(
                        provider.clone(),
                    )))
                    .with_no_client_auth()
            })
            // The ring provider supports the default versions: a real invariant.
            .expect("ring supports TLS 1.2 and 1.3");
        // Built whether or not this node's config asks for `verify`: the cluster's policy
        // (`SetRouterSettings`) may ask for it at any time.
        let verified_tls = verified_config(provider, config.tls_trust_file.as_deref())
            .map(|c| TlsConnector::from(Arc::new(c)));
        let wanted = config
            .tls_policy
            .values()
            .any(|p| *p == crate::config::TlsPolicy::Verify);
        if let Err(e) = &verified_tls
            && wanted
        {
            tracing::error!("relay TLS policy cannot verify certificates: {e}");
        }
        RelayAgent {
            connect_timeout: Duration::from_secs(config.connect_timeout_secs),
            command_timeout: Duration::from_secs(config.command_timeout_secs),
            helo_name,
            resolver: build_resolver(&config.nameservers),
            tls: TlsConnector::from(Arc::new(tls)),
            verified_tls,
        }
    }

    /// Sends `message` with `envelope` (all its recipients routed to `dest`) in one
    /// transaction; returns one reply per recipient.
    pub async fn deliver(
        &self,
        dest: &Destination,
        envelope: &Envelope,
        message: &[u8],
    ) -> HostOutcome {
        let everyone = |host: String, reply: Reply| HostOutcome {
            host,
            connected: false,
            replies: vec![reply; envelope.recipients.len()],
            dsn: false,
        };
        let hosts = match self.hosts(dest).await {
            Ok(hosts) => hosts,
            Err(reply) => return everyone(dest.to_string(), reply),
        };
        let mut last_error = Reply::new(451, "4.4.1", format!("no address for {dest}"));
        let unreachable = |e: String| Reply::new(451, "4.4.1", e);
        for (host, port) in hosts {
            let addrs = match self.addresses(&host, port).await {
                Ok(addrs) => addrs,
                Err(e) => {
                    last_error = unreachable(e);
                    continue;
                }
            };
            for addr in addrs {
                let tx = Transaction {
                    helo_name: self.helo_name.clone(),
                    return_path: envelope.return_path.clone(),
                    recipients: envelope.recipients.clone(),
                    message: message.to_vec(),
                    starttls: dest.tls,
                    ret: envelope.ret,
                    envid: envelope.envid.clone(),
                    rcpt_dsn: envelope.rcpt_dsn.clone(),
                };
                match self.attempt(addr, &host, tx.clone()).await {
                    Ok((replies, dsn)) => {
                        return HostOutcome {
                            host,
                            connected: true,
                            replies,
                            dsn,
                        };
                    }
                    Err(Attempt::Unreachable(e)) => {
                        last_error = unreachable(format!("cannot connect to {host} [{addr}]: {e}"));
                    }
                    Err(Attempt::TlsFailed(e)) if dest.tls == StartTls::Required => {
                        // Never clear text under a policy: try the next address, if any.
                        tracing::warn!(
                            %host, %addr,
                            "TLS policy: no verified TLS with {host} [{addr}] ({e}); recipients deferred"
                        );
                        last_error = Reply::new(
                            451,
                            "4.7.5",
                            format!("TLS required by policy: {host} [{addr}]: {e}"),
                        );
                    }
                    Err(Attempt::TlsFailed(e)) => {
                        tracing::info!(%host, %addr, "STARTTLS handshake failed ({e}); retrying in clear");
                        let clear = Transaction {
                            starttls: StartTls::Never,
                            ..tx
                        };
                        match self.attempt(addr, &host, clear).await {
                            Ok((replies, dsn)) => {
                                return HostOutcome {
                                    host,
                                    connected: true,
                                    replies,
                                    dsn,
                                };
                            }
                            Err(Attempt::Unreachable(e) | Attempt::TlsFailed(e)) => {
                                last_error =
                                    unreachable(format!("cannot connect to {host} [{addr}]: {e}"));
                            }
                        }
                    }
                }
            }
        }
        everyone(dest.to_string(), last_error)
    }

    /// The hosts to try, in order.
    async fn hosts(&self, dest: &Destination) -> Result<Vec<(String, u16)>, Reply> {
        let domain = match &dest.hop {
            NextHop::Host { host, port } => return Ok(vec![(host.clone(), *port)]),
            NextHop::Mx { domain } => domain,
        };
        let resolver = self
            .resolver
            .as_ref()
            .map_err(|e| Reply::new(451, "4.4.3", format!("DNS resolver unavailable: {e}")))?;
        let fqdn = format!("{domain}.");
        match resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let mut mx: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|rec| match &rec.data {
                        RData::MX(mx) => Some((
                            mx.preference,
                            mx.exchange.to_ascii().trim_end_matches('.').to_string(),
                        )),
                        _ => None,
                    })
                    .collect();
                // RFC 7505 §3: a single MX with the root as exchange means "no mail here".
                if mx.len() == 1 && mx[0].1.is_empty() {
                    return Err(Reply::new(
                        556,
                        "5.1.10",
                        format!("{domain} does not accept mail (null MX)"),
                    ));
                }
                mx.sort();
                if mx.is_empty() {
                    return Ok(vec![(domain.clone(), SMTP_PORT)]);
                }
                Ok(mx.into_iter().map(|(_, h)| (h, SMTP_PORT)).collect())
            }
            Err(e) if e.is_nx_domain() => Err(Reply::new(
                550,
                "5.1.2",
                format!("domain {domain} does not exist"),
            )),
            // RFC 5321 §5.1: no MX records: the domain itself is the implicit MX.
            Err(e) if e.is_no_records_found() => Ok(vec![(domain.clone(), SMTP_PORT)]),
            Err(e) => Err(Reply::new(
                451,
                "4.4.3",
                format!("MX lookup for {domain} failed: {e}"),
            )),
        }
    }

    /// The addresses of `host`: itself when it is an IP, else its A/AAAA records.
    async fn addresses(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Ok(resolver) = &self.resolver {
            match resolver.lookup_ip(format!("{host}.").as_str()).await {
                Ok(ips) => return Ok(ips.iter().map(|ip| SocketAddr::new(ip, port)).collect()),
                Err(e) if e.is_no_records_found() => {
                    return Err(format!("{host} has no address"));
                }
                // Fall through: the system resolver may know it (/etc/hosts).
                Err(_) => {}
            }
        }
        tokio::net::lookup_host((host, port))
            .await
            .map(|a| a.collect())
            .map_err(|e| format!("cannot resolve {host}: {e}"))
    }

    /// One connection to `addr`, one transaction: the replies, and whether the host offered
    /// DSN.
    async fn attempt(
        &self,
        addr: SocketAddr,
        host: &str,
        tx: Transaction,
    ) -> Result<(Vec<Reply>, bool), Attempt> {
        let mut tcp =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return Err(Attempt::Unreachable(e.to_string())),
                Err(_) => return Err(Attempt::Unreachable("connection timed out".into())),
            };
        let lost = |e: std::io::Error| {
            Reply::new(
                451,
                "4.4.2",
                format!("lost connection with {host} [{addr}]: {e}"),
            )
        };
        let policy = tx.starttls;
        let mut session = ClientSession::new(tx);
        let finish = |session: ClientSession, reply: Reply| {
            if session.converted_to_7bit() {
                tracing::info!(%host, %addr, "no 8BITMIME: message converted to 7 bits (RFC 6152)");
            }
            if policy == StartTls::Required && !session.is_tls() {
                tracing::warn!(
                    %host, %addr,
                    "TLS policy: {host} [{addr}] does not offer STARTTLS; recipients deferred"
                );
            }
            let dsn = session.capabilities().dsn;
            (session.finish(&reply), dsn)
        };
        match self.converse(&mut tcp, &mut session, Vec::new()).await {
            Ok(Step::Done) => Ok(finish(session, lost(closed()))),
            Err(e) => Ok(finish(session, lost(e))),
            Ok(Step::StartTls) => {
                let name = ServerName::try_from(host.to_string())
                    .unwrap_or_else(|_| ServerName::from(addr.ip()));
                let connector = match policy {
                    StartTls::Required => match &self.verified_tls {
                        Ok(connector) => connector,
                        Err(e) => return Err(Attempt::TlsFailed(e.clone())),
                    },
                    StartTls::Opportunistic | StartTls::Never => &self.tls,
                };
                let mut tls =
                    match tokio::time::timeout(self.command_timeout, connector.connect(name, tcp))
                        .await
                    {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return Err(Attempt::TlsFailed(e.to_string())),
                        Err(_) => return Err(Attempt::TlsFailed("handshake timed out".into())),
                    };
                let hello = session.tls_started();
                let result = self.converse(&mut tls, &mut session, hello).await;
                let _ = tls.shutdown().await;
                match result {
                    Ok(_) => Ok(finish(session, lost(closed()))),
                    Err(e) => Ok(finish(session, lost(e))),
                }
            }
        }
    }

    /// Carries out `pending`, then reads and feeds replies until the session ends or asks
    /// for TLS.
    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        session: &mut ClientSession,
        mut pending: Vec<Action>,
    ) -> std::io::Result<Step> {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            for action in pending.drain(..) {
                match action {
                    Action::Send(bytes) => stream.write_all(&bytes).await?,
                    Action::StartTls => {
                        stream.flush().await?;
                        return Ok(Step::StartTls);
                    }
                    Action::Close => {
                        let _ = stream.shutdown().await;
                        return Ok(Step::Done);
                    }
                }
            }
            stream.flush().await?;
            let n = tokio::time::timeout(self.command_timeout, stream.read(&mut buf))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply in time")
                })??;
            if n == 0 {
                return Err(closed());
            }
            pending = session
                .feed(&buf[..n])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        }
    }
}

/// Why an attempt produced no replies.
enum Attempt {
    /// The TCP connection could not be made: try the next address.
    Unreachable(String),
    /// STARTTLS was agreed but the handshake failed: the connection is unusable.
    TlsFailed(String),
}

fn closed() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "connection closed by the remote host",
    )
}

fn build_resolver(nameservers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let builder = if nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| e.to_string())?
    } else {
        let servers = nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    builder.build().map_err(|e| e.to_string())
}

/// A client config that verifies server certificates against the CAs in `trust_file` (PEM),
/// or the system's store without one.
fn verified_config(
    provider: Arc<CryptoProvider>,
    trust_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match trust_file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(match trust_file {
            Some(path) => format!("no CA certificate in {}", path.display()),
            None => "no CA certificate in the system's store".into(),
        });
    }
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
        .map_err(|e| e.to_string())
}

/// Accepts any server certificate, for opportunistic STARTTLS only (see the module docs).
/// Handshake signatures are still verified with the provider's algorithms.
#[derive(Debug)]
pub struct OpportunisticVerifier(Arc<CryptoProvider>);

impl ServerCertVerifier for OpportunisticVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! TLS material: the server certificate and key, and the rustls configurations built from them.
//!
//! Owns the files `data_dir/tls/cert.pem` and `data_dir/tls/key.pem` (used when `[tls]` names
//! no files) and the creation of a self-signed pair there at first start.
//!
//! Invariants:
//! - the generated key file is created with mode 0600 and both files are written to a temporary
//!   name, synced and renamed, so a crash never leaves a truncated PEM behind; the certificate is
//!   renamed last, and a pair with either file missing is regenerated as a whole;
//! - an existing pair is reused byte for byte, so clients that pinned or trusted the certificate
//!   keep working across restarts;
//! - every rustls configuration is built with an explicit ring provider, so no process-wide
//!   default provider has to be installed.
//!
//! References: RFC 8446 (TLS 1.3) and RFC 5246 (TLS 1.2) via rustls' safe defaults; RFC 7468
//! (PEM); RFC 8314 (implicit TLS for submission and POP3); RFC 3207 / RFC 2595 (STARTTLS/STLS).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Errors from loading or creating TLS material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A generated certificate or key could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file is not valid PEM, or holds no item of the expected kind.
    #[error("invalid PEM in {path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What the PEM decoder reported.
        source: rustls::pki_types::pem::Error,
    },
    /// Only one of `tls.cert_file` and `tls.key_file` is configured.
    #[error("tls.cert_file and tls.key_file must be set together")]
    Incomplete,
    /// The self-signed certificate could not be generated.
    #[error("cannot generate a self-signed certificate for {hostname:?}: {source}")]
    Generate {
        /// The host name the certificate was for.
        hostname: String,
        /// The rcgen error.
        source: rcgen::Error,
    },
    /// rustls rejected the material (e.g. the key does not match the certificate).
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

impl TlsError {
    /// Whether retrying could succeed unchanged: only I/O errors of a transient kind.
    pub fn is_temporary(&self) -> bool {
        match self {
            TlsError::Read { source, .. } | TlsError::Write { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
            ),
            TlsError::Pem { .. }
            | TlsError::Incomplete
            | TlsError::Generate { .. }
            | TlsError::Rustls(_) => false,
        }
    }
}

/// The certificate file in use: `cfg.cert_file`, else `data_dir/tls/cert.pem`.
pub fn cert_path(cfg: &crate::config::TlsConfig, data_dir: &Path) -> PathBuf {
    match &cfg.cert_file {
        Some(path) => path.clone(),
        None => data_dir.join("tls").join("cert.pem"),
    }
}

/// The key file in use: `cfg.key_file`, else `data_dir/tls/key.pem`.
pub fn key_path(cfg: &crate::config::TlsConfig, data_dir: &Path) -> PathBuf {
    match &cfg.key_file {
        Some(path) => path.clone(),
        None => data_dir.join("tls").join("key.pem"),
    }
}

/// Loads the configured certificate and key, or the self-signed pair under `data_dir/tls/`
/// (creating it for `hostname` at first start), and builds the server configuration.
///
/// # Errors
/// [`TlsError::Incomplete`] if only one of the two files is configured; read, PEM, generation
/// and write errors naming the file; [`TlsError::Rustls`] if the key does not fit the
/// certificate.
pub fn load_or_create(
    cfg: &crate::config::TlsConfig,
    data_dir: &Path,
    hostname: &str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert_file, key_file) = match (&cfg.cert_file, &cfg.key_file) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            let cert = cert_path(cfg, data_dir);
            let key = key_path(cfg, data_dir);
            if !(cert.is_file() && key.is_file()) {
                create_self_signed(&cert, &key, hostname)?;
            }
            (cert, key)
        }
        _ => return Err(TlsError::Incomplete),
    };
    let certs = read_certs(&cert_file)?;
    let key_pem = read(&key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| TlsError::Pem {
        path: key_file.clone(),
        source,
    })?;
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// A client configuration that trusts exactly the certificates in `cert_pem_path` (e.g. a
/// node's self-signed certificate); for tests and local tools.
///
/// # Errors
/// Read and PEM errors naming the file; [`TlsError::Rustls`] if a certificate is unusable as a
/// trust anchor.
pub fn client_config_trusting(cert_pem_path: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in read_certs(cert_pem_path)? {
        roots.add(cert)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every certificate in a PEM file, leaf first; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let pem_error = |source| TlsError::Pem {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(pem_error(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// Generates a self-signed pair for `hostname` and stores it; the key first, so that a present
/// certificate always has its key written before it.
fn create_self_signed(cert_file: &Path, key_file: &Path, hostname: &str) -> Result<(), TlsError> {
    let generated =
        rcgen::generate_simple_self_signed(vec![hostname.to_owned()]).map_err(|source| {
            TlsError::Generate {
                hostname: hostname.to_owned(),
                source,
            }
        })?;
    for file in [cert_file, key_file] {
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir).map_err(|source| TlsError::Write {
                path: dir.to_owned(),
                source,
            })?;
        }
    }
    write_atomically(
        key_file,
        generated.signing_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomically(cert_file, generated.cert.pem().as_bytes(), 0o644)?;
    tracing::info!(
        cert = %cert_file.display(),
        hostname,
        "created a self-signed TLS certificate"
    );
    Ok(())
}

/// Writes `path.tmp` with `mode`, syncs it, renames it over `path` and syncs the directory, so
/// readers see either the old file or the complete new one (a rename is atomic on POSIX).
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Write { path, source }
    };
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    // A leftover from a crash may have looser permissions; start afresh so `mode` applies.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(write_error(&tmp)(e)),
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(write_error(&tmp))?;
    file.write_all(contents).map_err(write_error(&tmp))?;
    file.sync_all().map_err(write_error(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(write_error(path))?;
    if let Some(dir) = path.parent() {
        // Makes the rename itself durable; opening a directory is only possible on Unix.
        #[cfg(unix)]
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_error(dir))?;
        #[cfg(not(unix))]
        let _ = dir;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const HOST: &str = "mail.example.test";

    #[test]
    fn generates_once_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig::default();
        load_or_create(&cfg, dir.path(), HOST).unwrap();
        let cert = cert_path(&cfg, dir.path());
        let key = key_path(&cfg, dir.path());
        assert_eq!(cert, dir.path().join("tls/cert.pem"));
        let first_cert = fs::read(&cert).unwrap();
        let first_key = fs::read(&key).unwrap();
        assert!(first_cert.starts_with(b"-----BEGIN CERTIFICATE-----"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        load_or_create(&cfg, dir.path(), HOST).unwrap();
        assert_eq!(fs::read(&cert).unwrap(), first_cert);
        assert_eq!(fs::read(&key).unwrap(), first_key);
        assert!(!dir.path().join("tls/cert.pem.tmp").exists());
    }

    #[test]
    fn missing_key_regenerates_the_pair() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig::default();
        load_or_create(&cfg, dir.path(), HOST).unwrap();
        let first_cert = fs::read(cert_path(&cfg, dir.path())).unwrap();
        fs::remove_file(key_path(&cfg, dir.path())).unwrap();
        load_or_create(&cfg, dir.path(), HOST).unwrap();
        assert_ne!(fs::read(cert_path(&cfg, dir.path())).unwrap(), first_cert);
    }

    #[test]
    fn configured_files_are_loaded_and_errors_name_them() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
        let cert = dir.path().join("my-cert.pem");
        let key = dir.path().join("my-key.pem");
        fs::write(&cert, generated.cert.pem()).unwrap();
        fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        let cfg = TlsConfig {
            cert_file: Some(cert.clone()),
            key_file: Some(key.clone()),
        };
        let data_dir = dir.path().join("data");
        load_or_create(&cfg, &data_dir, HOST).unwrap();
        assert!(
            !data_dir.exists(),
            "nothing generated when files are configured"
        );
        assert_eq!(cert_path(&cfg, &data_dir), cert);

        fs::write(&key, "not a key\n").unwrap();
        let err = load_or_create(&cfg, &data_dir, HOST).unwrap_err();
        assert!(matches!(err, TlsError::Pem { .. }), "{err}");
        assert!(err.to_string().contains("my-key.pem"), "{err}");

        let absent = TlsConfig {
            cert_file: Some(dir.path().join("absent.pem")),
            key_file: Some(key),
        };
        let err = load_or_create(&absent, &data_dir, HOST).unwrap_err();
        assert!(matches!(err, TlsError::Read { .. }), "{err}");
        assert!(err.to_string().contains("absent.pem"), "{err}");

        let half = TlsConfig {
            cert_file: Some(cert),
            key_file: None,
        };
        assert!(matches!(
            load_or_create(&half, &data_dir, HOST),
            Err(TlsError::Incomplete)
        ));
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let a = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        fs::write(&cert, a.cert.pem()).unwrap();
        fs::write(&key, b.signing_key.serialize_pem()).unwrap();
        let cfg = TlsConfig {
            cert_file: Some(cert),
            key_file: Some(key),
        };
        assert!(matches!(
            load_or_create(&cfg, dir.path(), HOST),
            Err(TlsError::Rustls(_))
        ));
    }

    #[tokio::test]
    async fn handshake_with_generated_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig::default();
        let server_config = load_or_create(&cfg, dir.path(), HOST).unwrap();
        let client_config = client_config_trusting(&cert_path(&cfg, dir.path())).unwrap();

        let (client_io, server_io) = tokio::io::duplex(4096);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(server_io).await.unwrap();
            let mut buf = [0u8; 6];
            tls.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"EHLO x");
            tls.write_all(b"250 ok").await.unwrap();
            tls.shutdown().await.unwrap();
        });

        let connector = tokio_rustls::TlsConnector::from(client_config);
        let name = rustls::pki_types::ServerName::try_from(HOST).unwrap();
        let mut tls = connector.connect(name, client_io).await.unwrap();
        tls.write_all(b"EHLO x").await.unwrap();
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"250 ok");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn handshake_fails_for_another_name() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TlsConfig::default();
        let server_config = load_or_create(&cfg, dir.path(), HOST).unwrap();
        let client_config = client_config_trusting(&cert_path(&cfg, dir.path())).unwrap();
        let (client_io, server_io) = tokio::io::duplex(4096);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config);
        let server = tokio::spawn(async move { acceptor.accept(server_io).await.is_err() });
        let connector = tokio_rustls::TlsConnector::from(client_config);
        let name = rustls::pki_types::ServerName::try_from("other.example.test").unwrap();
        assert!(connector.connect(name, client_io).await.is_err());
        assert!(server.await.unwrap());
    }
}

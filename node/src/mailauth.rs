//! Mail authentication (issue #5): SPF (RFC 7208), DKIM (RFC 6376) and DMARC
//! (RFC 7489) checks of inbound mail, summarised in an `Authentication-Results`
//! field (RFC 8601), and DKIM signing of outbound mail.
//!
//! Built on the `mail-auth` crate with its `ring` backend. DNS answers come
//! from [`StaticTxt`] first (records an operator or a test pins), then from the
//! resolver over the `[relay] nameservers` (the system's when empty), so tests
//! never reach the Internet.
//!
//! The verdict is a value ([`AuthVerdict`]); what to do with a failure (tag,
//! junk, reject) is the SMTP session's policy. Under the junk policy the
//! session prepends [`JUNK_FIELD`] and local delivery files what
//! [`marked_junk`] recognises into the recipient's Junk mailbox.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimSigner;
use mail_auth::dmarc::Dmarc;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts,
};
use mail_auth::spf::Spf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    Parameters, ResolverCache, SpfResult, Txt,
};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// Headers a DKIM signature covers (RFC 6376 §5.4.1 recommends these).
const SIGNED_HEADERS: [&str; 7] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
];

/// TXT records pinned in memory, consulted before DNS.
#[derive(Default)]
pub struct StaticTxt(Mutex<HashMap<Box<str>, Txt>>);

impl StaticTxt {
    /// Pins the TXT record `record` at `name`. Its kind follows the name:
    /// `…._domainkey.…` is a DKIM key, `_dmarc.…` a DMARC policy, anything
    /// else an SPF policy.
    ///
    /// # Errors
    /// The record does not parse as that kind.
    pub fn add(&self, name: &str, record: &str) -> Result<(), String> {
        let name = fqdn(name);
        let bytes = record.as_bytes();
        let txt: Txt = if name.contains("._domainkey.") {
            DomainKey::parse(bytes).map(Into::into)
        } else if name.starts_with("_dmarc.") {
            Dmarc::parse(bytes).map(Into::into)
        } else {
            Spf::parse(bytes).map(Into::into)
        }
        .map_err(|e| format!("{name}: {e}"))?;
        self.lock().insert(name.into_boxed_str(), txt);
        Ok(())
    }

    /// Pins "no such record" at `name` (NXDOMAIN), so the checks do not ask
    /// DNS (the DMARC tree walk of RFC 9989 asks up to the top-level domain).
    pub fn add_missing(&self, name: &str) {
        let missing = mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(
            mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain,
        ));
        self.lock()
            .insert(fqdn(name).into_boxed_str(), Txt::Error(missing));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Txt>> {
        // A panic while holding the lock leaves a consistent map (one insert).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ResolverCache<Box<str>, Txt> for StaticTxt {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name)
    }

    fn insert(&self, _key: Box<str>, _value: Txt, _valid_until: std::time::Instant) {
        // Pinned records only: DNS answers are not kept.
    }
}

fn fqdn(name: &str) -> String {
    let mut name = name.trim_end_matches('.').to_ascii_lowercase();
    name.push('.');
    name
}

/// The outcome of the checks on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthVerdict {
    /// The `Authentication-Results:` field, CRLF-terminated.
    pub header: String,
    /// SPF, DKIM or DMARC failed (not merely absent).
    pub failed: bool,
    /// DMARC failed and the From domain's policy is `p=reject`.
    pub dmarc_reject: bool,
}

/// Checks inbound messages.
pub struct AuthChecker {
    auth: MessageAuthenticator,
    records: StaticTxt,
    hostname: String,
}

impl AuthChecker {
    /// A checker signing its results as `hostname`, asking `nameservers`
    /// (the system's resolvers when empty).
    ///
    /// # Errors
    /// The system resolver configuration cannot be read.
    pub fn new(hostname: &str, nameservers: &[SocketAddr]) -> Result<AuthChecker, String> {
        let auth = if nameservers.is_empty() {
            MessageAuthenticator::new_system_conf().map_err(|e| e.to_string())?
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
            MessageAuthenticator::new(
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
            .map_err(|e| e.to_string())?
        };
        Ok(AuthChecker {
            auth,
            records: StaticTxt::default(),
            hostname: hostname.to_string(),
        })
    }

    /// The pinned records, consulted before DNS.
    pub fn records(&self) -> &StaticTxt {
        &self.records
    }

    /// Runs SPF (HELO and MAIL FROM identities), DKIM and DMARC on `message`
    /// received from `ip`.
    pub async fn check(
        &self,
        ip: IpAddr,
        helo: &str,
        mail_from: &str,
        message: &[u8],
    ) -> AuthVerdict {
        let Some(parsed) = AuthenticatedMessage::parse(message) else {
            return AuthVerdict {
                header: format!("Authentication-Results: {}; none\r\n", self.hostname),
                failed: false,
                dmarc_reject: false,
            };
        };
        let dkim = self
            .auth
            .verify_dkim(Parameters::new(&parsed).with_txt_cache(&self.records))
            .await;
        let spf_helo = self
            .auth
            .verify_spf(
                Parameters::new(SpfParameters::verify_ehlo(ip, helo, &self.hostname))
                    .with_txt_cache(&self.records),
            )
            .await;
        let mail_from_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let spf_from = if mail_from.is_empty() {
            spf_helo.clone()
        } else {
            self.auth
                .verify_spf(
                    Parameters::new(SpfParameters::verify_mail_from(
                        ip,
                        helo,
                        &self.hostname,
                        mail_from,
                    ))
                    .with_txt_cache(&self.records),
                )
                .await
        };
        let dmarc = self
            .auth
            .verify_dmarc(
                Parameters::new(DmarcParameters::new(
                    &parsed,
                    &dkim,
                    mail_from_domain,
                    &spf_from,
                ))
                .with_txt_cache(&self.records),
            )
            .await;
        let header_from = parsed.from.first().map_or("", |s| s.as_str());
        let mut results = AuthenticationResults::new(&self.hostname)
            .with_dkim_results(&dkim, header_from)
            .with_spf_ehlo_result(&spf_helo, ip, helo);
        if !mail_from.is_empty() {
            results = results.with_spf_mailfrom_result(&spf_from, ip, mail_from, helo);
        }
        results = results.with_dmarc_result(&dmarc);
        let dkim_failed = dkim
            .iter()
            .any(|d| !matches!(d.result(), DkimResult::Pass | DkimResult::None))
            && !dkim.iter().any(|d| matches!(d.result(), DkimResult::Pass));
        let spf_failed = matches!(spf_from.result(), SpfResult::Fail);
        let dmarc_failed = matches!(dmarc.result(), DmarcResult::Fail(_));
        AuthVerdict {
            header: results.to_header(),
            failed: dkim_failed || spf_failed || dmarc_failed,
            dmarc_reject: dmarc_failed && dmarc.policy() == mail_auth::dmarc::Policy::Reject,
        }
    }
}

/// The field the SMTP session prepends to mail that failed the checks under
/// the junk policy (SpamAssassin's name, which mail filters know).
pub const JUNK_FIELD: &str = "X-Spam-Flag: YES\r\n";

/// Whether this host's SMTP session marked `message` as junk: an
/// `X-Spam-Flag: YES` field above the first `Received:` field. Each hop
/// prepends its trace fields (RFC 5321 §4.4) and the session prepends its
/// results above its own `Received:`, so a flag the sender wrote sits
/// below it and does not move the message out of the INBOX.
pub fn marked_junk(message: &[u8]) -> bool {
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            // A folded field's continuation (RFC 5322 §2.2.3).
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            // The empty line ending the header, or not a header at all.
            return false;
        };
        let name = &line[..colon];
        if name.eq_ignore_ascii_case(b"Received") {
            return false;
        }
        let value = String::from_utf8_lossy(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"X-Spam-Flag") && value.trim().eq_ignore_ascii_case("YES") {
            return true;
        }
    }
    false
}

/// `message` without the `Authentication-Results` fields that claim to come
/// from `authserv_id`: a sender could forge them, and readers trust that
/// name (RFC 8601 §5). Other fields and the body are untouched.
pub fn strip_forged_results(message: &[u8], authserv_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len());
    let mut dropping = false;
    let mut rest = message;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, tail) = rest.split_at(end);
        rest = tail;
        if line == b"\r\n" || line == b"\n" {
            // End of the header section: the body is copied as is.
            out.extend_from_slice(line);
            out.extend_from_slice(rest);
            break;
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            dropping = is_result_of(line, authserv_id);
        }
        if !dropping {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Whether `line` starts an `Authentication-Results` field of `authserv_id`.
fn is_result_of(line: &[u8], authserv_id: &str) -> bool {
    const NAME: &[u8] = b"authentication-results:";
    if line.len() < NAME.len() || !line[..NAME.len()].eq_ignore_ascii_case(NAME) {
        return false;
    }
    let value = String::from_utf8_lossy(&line[NAME.len()..]);
    let id = value
        .trim_start()
        .split(|c: char| c == ';' || c.is_whitespace())
        .next()
        .unwrap_or("");
    id.eq_ignore_ascii_case(authserv_id)
}

/// A `DKIM-Signature:` field (CRLF-terminated) for `message`, signed for
/// `domain` with `selector` and the PEM private key `pem` (RSA in PKCS#1 or
/// PKCS#8, or Ed25519 in PKCS#8).
///
/// # Errors
/// The key does not parse, or signing fails.
pub fn sign(message: &[u8], domain: &str, selector: &str, pem: &str) -> Result<String, String> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| e.to_string())?;
    if let PrivateKeyDer::Pkcs8(der) = &key
        && let Ok(ed25519) = Ed25519Key::from_pkcs8_maybe_unchecked_der(der.secret_pkcs8_der())
    {
        return sign_with(ed25519, message, domain, selector);
    }
    let rsa = RsaKey::<Sha256>::from_key_der(key).map_err(|e| e.to_string())?;
    sign_with(rsa, message, domain, selector)
}

/// A new DKIM key: the private key as PKCS#8 PEM (the domain's
/// `DKIMPrivateKey` setting) and the TXT record to publish at
/// `selector._domainkey.domain` (RFC 8463: Ed25519-SHA256).
///
/// # Errors
/// The system random source fails.
pub fn generate_key() -> Result<(String, String), String> {
    use base64::Engine;
    use ring::signature::KeyPair;
    let rng = ring::rand::SystemRandom::new();
    let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
    let pair =
        ring::signature::Ed25519KeyPair::from_pkcs8(der.as_ref()).map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        b64.encode(der.as_ref())
    );
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        b64.encode(pair.public_key().as_ref())
    );
    Ok((pem, record))
}

/// `mailnode dkim generate`: a new key for `domain` as the CLI command that
/// stores it (`UpdateDomainSettings`, data syntax) and the DNS record to
/// publish, one per line.
///
/// # Errors
/// The system random source fails.
pub fn generate_settings(domain: &str, selector: &str) -> Result<String, String> {
    let (pem, record) = generate_key()?;
    let pem = pem.replace('\n', "\\n");
    Ok(format!(
        "UpdateDomainSettings {domain} {{DKIMSelector=\"{selector}\";DKIMPrivateKey=\"{pem}\";}}\n\
         {selector}._domainkey.{domain}. IN TXT \"{record}\"\n"
    ))
}

fn sign_with<K: SigningKey>(
    key: K,
    message: &[u8],
    domain: &str,
    selector: &str,
) -> Result<String, String> {
    DkimSigner::from_key(key)
        .domain(domain)
        .selector(selector)
        .headers(SIGNED_HEADERS)
        .sign(message)
        .map(|s| s.to_header())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pair() -> (String, String) {
        generate_key().unwrap()
    }

    const MESSAGE: &str = "From: Ann <ann@sender.test>\r\nTo: bob@example.test\r\nSubject: hi\r\nDate: Mon, 30 Nov 2026 01:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\n\r\nHello Bob.\r\n";

    fn checker(record: &str) -> AuthChecker {
        // A closed port: any record not pinned fails fast instead of leaving the machine.
        let dead = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let c = AuthChecker::new("mx.example.test", &[dead]).unwrap();
        let r = c.records();
        r.add("sel._domainkey.sender.test", record).unwrap();
        r.add("sender.test", "v=spf1 ip4:192.0.2.1 -all").unwrap();
        r.add("client.sender.test", "v=spf1 ip4:192.0.2.1 -all")
            .unwrap();
        r.add("_dmarc.sender.test", "v=DMARC1; p=reject").unwrap();
        r.add_missing("_dmarc.test");
        c
    }

    #[test]
    fn issue_5_only_a_junk_flag_above_the_first_received_field_counts() {
        let ours = format!(
            "Authentication-Results: mx.example.test;\r\n\tdmarc=fail\r\n{JUNK_FIELD}Received: from a\r\n\tby b; now\r\n{MESSAGE}"
        );
        assert!(marked_junk(ours.as_bytes()));
        assert!(marked_junk(
            b"x-spam-flag:  yes \r\nReceived: x\r\n\r\nbody\r\n"
        ));
        let senders = format!("Received: from a\r\n\tby b; now\r\n{JUNK_FIELD}{MESSAGE}");
        assert!(!marked_junk(senders.as_bytes()));
        assert!(!marked_junk(MESSAGE.as_bytes()));
        assert!(!marked_junk(b"X-Spam-Flag: NO\r\n\r\n"));
        // In the body, past the header's end.
        assert!(!marked_junk(b"Subject: x\r\n\r\nX-Spam-Flag: YES\r\n"));
    }

    #[test]
    fn rfc8601_5_forged_results_of_this_host_are_removed() {
        let message = b"Authentication-Results: MX.example.test;\r\n\tdkim=pass\r\nAuthentication-Results: other.test; spf=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mx.example.test; body\r\n";
        let clean = strip_forged_results(message, "mx.example.test");
        assert_eq!(
            String::from_utf8(clean).unwrap(),
            "Authentication-Results: other.test; spf=pass\r\nSubject: x\r\n\r\nAuthentication-Results: mx.example.test; body\r\n"
        );
    }

    #[test]
    fn issue_5_generated_settings_hold_the_key_and_the_record() {
        let text = generate_settings("example.test", "mn").unwrap();
        let mut lines = text.lines();
        let command = lines.next().unwrap();
        assert!(command.starts_with("UpdateDomainSettings example.test {DKIMSelector=\"mn\";DKIMPrivateKey=\"-----BEGIN PRIVATE KEY-----\\n"), "{text}");
        let dns = lines.next().unwrap();
        assert!(
            dns.starts_with("mn._domainkey.example.test. IN TXT \"v=DKIM1; k=ed25519; p="),
            "{text}"
        );
    }

    #[tokio::test]
    async fn issue_5_signed_message_verifies_and_passes_dmarc() {
        let (pem, record) = key_pair();
        let field = sign(MESSAGE.as_bytes(), "sender.test", "sel", &pem).unwrap();
        assert!(field.starts_with("DKIM-Signature: "), "{field}");
        let signed = format!("{field}{MESSAGE}");
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let v = checker(&record)
            .check(
                ip,
                "client.sender.test",
                "ann@sender.test",
                signed.as_bytes(),
            )
            .await;
        assert!(
            v.header
                .starts_with("Authentication-Results: mx.example.test;"),
            "{}",
            v.header
        );
        for needle in ["dkim=pass", "spf=pass", "dmarc=pass"] {
            assert!(v.header.contains(needle), "{needle}: {}", v.header);
        }
        assert!(!v.failed && !v.dmarc_reject, "{v:?}");
    }

    #[tokio::test]
    async fn issue_5_bad_dkim_signature_is_dkim_fail_and_dmarc_reject() {
        let (pem, record) = key_pair();
        let field = sign(MESSAGE.as_bytes(), "sender.test", "sel", &pem).unwrap();
        let tampered = format!(
            "{field}{}",
            MESSAGE.replace("Subject: hi", "Subject: pay Mallory")
        );
        // Also from an address SPF does not allow, so DMARC has nothing aligned.
        let ip: IpAddr = "198.51.100.9".parse().unwrap();
        let v = checker(&record)
            .check(
                ip,
                "client.sender.test",
                "ann@sender.test",
                tampered.as_bytes(),
            )
            .await;
        for needle in ["dkim=fail", "spf=fail", "dmarc=fail"] {
            assert!(v.header.contains(needle), "{needle}: {}", v.header);
        }
        assert!(v.failed && v.dmarc_reject, "{v:?}");
    }
}

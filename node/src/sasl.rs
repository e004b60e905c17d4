//! SASL server mechanisms shared by SMTP AUTH (RFC 4954), POP3 AUTH
//! (RFC 5034) and IMAP AUTHENTICATE: PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login).
//!
//! Sans-I/O: the protocol driver sends each [`SaslStep::Challenge`] after
//! its own prefix (`334 ` in SMTP, `+ ` in POP3/IMAP) and passes every client
//! line back to [`Sasl::step`] without its CRLF. This module only decodes
//! base64 and splits credentials; it never checks them.
//!
//! Invariants: a [`Sasl`] yields exactly one [`SaslStep::Done`], after which
//! any further step is [`SaslError::Finished`]; a client line of `*` cancels
//! the exchange (RFC 4954 §4, RFC 5034 §4).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Longest base64 client response accepted, in octets. RFC 4954 §4 raises
/// the SMTP line limit to 12288 octets for authentication exchanges; the
/// same bound keeps POP3 and IMAP decoders from buffering more.
pub const MAX_RESPONSE_LEN: usize = 12288;

/// The LOGIN mechanism's first challenge: base64 of `Username:`.
const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
/// The LOGIN mechanism's second challenge: base64 of `Password:`.
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

/// A SASL mechanism this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616 `PLAIN`.
    Plain,
    /// The de facto `LOGIN` mechanism (draft-murchison-sasl-login).
    Login,
}

impl Mechanism {
    /// Looks a mechanism name up, case-insensitively (RFC 4422 §3.1 names
    /// are upper case, but clients vary).
    pub fn from_name(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("PLAIN") {
            Some(Self::Plain)
        } else if name.eq_ignore_ascii_case("LOGIN") {
            Some(Self::Login)
        } else {
            None
        }
    }

    /// The registered upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Login => "LOGIN",
        }
    }
}

/// What the driver does next in an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this base64 text (possibly empty) after `334 ` / `+ ` and read
    /// one more client line.
    Challenge(String),
    /// The client has sent its credentials; the driver verifies them.
    Done {
        /// Identity to act as (RFC 4616 authzid), when different from `user`.
        authzid: Option<String>,
        /// Authentication identity (RFC 4616 authcid).
        user: String,
        /// The password, as sent.
        password: String,
    },
}

/// Why an exchange ended without credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// The mechanism is not one of [`Mechanism`] (SMTP 504 5.5.4).
    #[error("unsupported SASL mechanism")]
    Unsupported,
    /// The client sent `*` (RFC 4954 §4: answer 501).
    #[error("authentication cancelled by client")]
    Cancelled,
    /// Not base64, not UTF-8, or longer than [`MAX_RESPONSE_LEN`].
    #[error("cannot decode SASL response")]
    BadEncoding,
    /// Decoded but not shaped as the mechanism requires (RFC 4616 §2).
    #[error("malformed SASL response")]
    Malformed,
    /// [`Sasl::step`] called after [`SaslStep::Done`].
    #[error("SASL exchange already finished")]
    Finished,
}

impl SaslError {
    /// Always `false`: each of these is the client's fault.
    pub fn is_temporary(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// PLAIN after an empty challenge: waiting for the whole response.
    PlainResponse,
    /// LOGIN: waiting for the user name.
    LoginUser,
    /// LOGIN: waiting for the password.
    LoginPassword { user: String },
    /// Credentials handed out.
    Finished,
}

/// One server-side SASL exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sasl {
    state: State,
}

impl Sasl {
    /// Starts an exchange for `mechanism` with the optional initial response
    /// from the command line (`=` stands for an empty one, RFC 4954 §4).
    ///
    /// # Errors
    /// [`SaslError::Unsupported`] for an unknown mechanism; otherwise as
    /// [`Sasl::step`] for the initial response.
    pub fn start(mechanism: &str, initial: Option<&str>) -> Result<(Sasl, SaslStep), SaslError> {
        let mech = Mechanism::from_name(mechanism).ok_or(SaslError::Unsupported)?;
        let mut sasl = Sasl {
            state: match mech {
                Mechanism::Plain => State::PlainResponse,
                Mechanism::Login => State::LoginUser,
            },
        };
        let step = match initial {
            Some(text) => sasl.step(text)?,
            None => match mech {
                // RFC 4616 §2: the server sends an empty challenge.
                Mechanism::Plain => SaslStep::Challenge(String::new()),
                Mechanism::Login => SaslStep::Challenge(LOGIN_USERNAME.to_owned()),
            },
        };
        Ok((sasl, step))
    }

    /// Feeds one client line (without CRLF).
    ///
    /// # Errors
    /// [`SaslError::Cancelled`] for `*`, [`SaslError::BadEncoding`] for bad
    /// base64 or UTF-8, [`SaslError::Malformed`] for a PLAIN message without
    /// two NULs or with an empty user or password, [`SaslError::Finished`]
    /// after completion. Any error ends the exchange.
    pub fn step(&mut self, client_line: &str) -> Result<SaslStep, SaslError> {
        let state = std::mem::replace(&mut self.state, State::Finished);
        if state == State::Finished {
            return Err(SaslError::Finished);
        }
        let line = client_line.trim_end_matches([' ', '\t']);
        if line == "*" {
            return Err(SaslError::Cancelled);
        }
        let decoded = decode(line)?;
        match state {
            State::PlainResponse => parse_plain(&decoded),
            State::LoginUser => {
                if decoded.is_empty() {
                    return Err(SaslError::Malformed);
                }
                self.state = State::LoginPassword { user: decoded };
                Ok(SaslStep::Challenge(LOGIN_PASSWORD.to_owned()))
            }
            State::LoginPassword { user } => Ok(SaslStep::Done {
                authzid: None,
                user,
                password: decoded,
            }),
            State::Finished => Err(SaslError::Finished),
        }
    }
}

/// Decodes one base64 response; `=` alone is the empty response.
fn decode(line: &str) -> Result<String, SaslError> {
    if line.len() > MAX_RESPONSE_LEN {
        return Err(SaslError::BadEncoding);
    }
    if line == "=" {
        return Ok(String::new());
    }
    let bytes = STANDARD.decode(line).map_err(|_| SaslError::BadEncoding)?;
    String::from_utf8(bytes).map_err(|_| SaslError::BadEncoding)
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
fn parse_plain(message: &str) -> Result<SaslStep, SaslError> {
    let mut parts = message.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if user.is_empty() || password.is_empty() {
        return Err(SaslError::Malformed);
    }
    Ok(SaslStep::Done {
        authzid: (!authzid.is_empty()).then(|| authzid.to_owned()),
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(authzid: Option<&str>, user: &str, password: &str) -> SaslStep {
        SaslStep::Done {
            authzid: authzid.map(str::to_owned),
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    #[test]
    fn rfc4954_plain_initial_response() {
        // RFC 4954 §4 example: "\0test\0test" (no authzid).
        let (_, step) = Sasl::start("PLAIN", Some("AHRlc3QAdGVzdA==")).unwrap();
        assert_eq!(step, done(None, "test", "test"));
    }

    #[test]
    fn rfc4616_plain_with_authzid() {
        // RFC 4616 §4 examples: "tim\0tim\0tanstaaftanstaaf" style messages.
        let b64 = STANDARD.encode("Ursel\0Kurt\0xipj3plmq");
        let (_, step) = Sasl::start("plain", Some(&b64)).unwrap();
        assert_eq!(step, done(Some("Ursel"), "Kurt", "xipj3plmq"));
    }

    #[test]
    fn plain_empty_challenge_then_response() {
        let (mut sasl, step) = Sasl::start("PLAIN", None).unwrap();
        assert_eq!(step, SaslStep::Challenge(String::new()));
        assert_eq!(
            sasl.step("AHRlc3QAdGVzdA==").unwrap(),
            done(None, "test", "test")
        );
        assert_eq!(sasl.step("AHRlc3QAdGVzdA=="), Err(SaslError::Finished));
    }

    #[test]
    fn rfc5034_login_exchange() {
        let (mut sasl, step) = Sasl::start("LOGIN", None).unwrap();
        assert_eq!(step, SaslStep::Challenge("VXNlcm5hbWU6".into()));
        assert_eq!(
            sasl.step("dGltNQ==").unwrap(),
            SaslStep::Challenge("UGFzc3dvcmQ6".into())
        );
        assert_eq!(
            sasl.step("dGFuc3RhYWZ0YW5zdGFhZg==").unwrap(),
            done(None, "tim5", "tanstaaftanstaaf")
        );
    }

    #[test]
    fn login_with_initial_user() {
        let (mut sasl, step) = Sasl::start("login", Some("dGltNQ==")).unwrap();
        assert_eq!(step, SaslStep::Challenge("UGFzc3dvcmQ6".into()));
        assert_eq!(sasl.step("=").unwrap(), done(None, "tim5", ""));
    }

    #[test]
    fn star_cancels() {
        let (mut sasl, _) = Sasl::start("PLAIN", None).unwrap();
        assert_eq!(sasl.step("*"), Err(SaslError::Cancelled));
        assert_eq!(sasl.step("*"), Err(SaslError::Finished));
        let (mut sasl, _) = Sasl::start("LOGIN", None).unwrap();
        assert_eq!(sasl.step("*"), Err(SaslError::Cancelled));
    }

    #[test]
    fn malformed_inputs() {
        let cases: &[(&str, Option<&str>, SaslError)] = &[
            ("CRAM-MD5", None, SaslError::Unsupported),
            ("", Some("x"), SaslError::Unsupported),
            ("PLAIN", Some("!!!!"), SaslError::BadEncoding),
            ("PLAIN", Some("AHRlc3QAdGVzdA"), SaslError::BadEncoding),
            ("PLAIN", Some("="), SaslError::Malformed),
            // "\0test" – one NUL only.
            ("PLAIN", Some("AHRlc3Q="), SaslError::Malformed),
            // "\0\0pw" – empty authcid.
            ("PLAIN", Some("AABwdw=="), SaslError::Malformed),
            // "a\0b\0c\0d" – three NULs.
            ("PLAIN", Some("YQBiAGMAZA=="), SaslError::Malformed),
            // 0xff 0xfe: not UTF-8.
            ("PLAIN", Some("//4="), SaslError::BadEncoding),
            ("LOGIN", Some("="), SaslError::Malformed),
        ];
        for (mech, initial, err) in cases {
            assert_eq!(
                Sasl::start(mech, *initial).map(|_| ()),
                Err(err.clone()),
                "{mech} {initial:?}"
            );
        }
        let long = "A".repeat(MAX_RESPONSE_LEN + 4);
        assert_eq!(
            Sasl::start("PLAIN", Some(&long)).map(|_| ()),
            Err(SaslError::BadEncoding)
        );
    }

    #[test]
    fn mechanism_names() {
        assert_eq!(Mechanism::from_name("Plain"), Some(Mechanism::Plain));
        assert_eq!(
            Mechanism::from_name("LOGIN").map(Mechanism::as_str),
            Some("LOGIN")
        );
        assert_eq!(Mechanism::from_name("XOAUTH2"), None);
    }
}

//! The client side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka brokers
//! speak it: no channel binding (`n,,`), no authorization identity, and the password used as its
//! UTF-8 bytes (Kafka's `ScramFormatter` does not apply SASLprep, so neither do we: a broker and
//! the proxy must derive the same salted password from the same string).
//!
//! The exchange is four messages: client-first, server-first, client-final, server-final.
//! [`ScramClient`] builds the client's two and checks the server's two. The server's messages
//! are checked strictly before any work is done on them (nonce prefix, salt, an iteration count
//! within [`MIN_ITERATIONS`]`..=`[`MAX_ITERATIONS`], so a hostile broker cannot make the proxy
//! burn seconds of CPU per connection), and the server signature is verified in constant time:
//! a broker that cannot prove it knows the password is refused.
//!
//! Nothing here logs; error messages never contain the password, the salted password, the
//! client proof or any key.

use crate::logging::peer_text;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::{digest, hmac, pbkdf2};
use std::fmt;
use std::num::NonZeroU32;

/// The fewest PBKDF2 iterations accepted from a broker: Kafka's own minimum (and RFC 7677's
/// recommendation). Fewer would make a stolen SCRAM exchange cheap to brute-force.
pub const MIN_ITERATIONS: u32 = 4096;
/// The most PBKDF2 iterations accepted from a broker. Kafka allows up to 16384 when creating
/// credentials; a million bounds the CPU a hostile broker can make each login cost (about a
/// second of SHA-512) while leaving room for deliberately slow settings.
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// The longest server message accepted. Real ones are under 200 bytes; this bounds the copy
/// kept for the AuthMessage.
pub const MAX_SERVER_MESSAGE: usize = 4096;
/// Random bytes in the client nonce (base64-encoded to 32 printable characters).
const NONCE_BYTES: usize = 24;
/// `base64("n,,")`: the GS2 header (no channel binding, no authzid) in the client-final message.
const CHANNEL_BINDING: &str = "biws";

/// The hash a SCRAM mechanism is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
    /// SCRAM-SHA-1: only so the RFC 5802 test vector can check the algorithm's shape.
    #[cfg(test)]
    Sha1,
}

impl ScramHash {
    /// The SASL mechanism name, as sent in SaslHandshake.
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha256 => "SCRAM-SHA-256",
            ScramHash::Sha512 => "SCRAM-SHA-512",
            #[cfg(test)]
            ScramHash::Sha1 => "SCRAM-SHA-1",
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
            #[cfg(test)]
            ScramHash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
            #[cfg(test)]
            ScramHash::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
            #[cfg(test)]
            ScramHash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        }
    }
}

/// Which server message a [`ScramError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerMessage {
    First,
    Final,
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerMessage::First => "server-first",
            ServerMessage::Final => "server-final",
        })
    }
}

/// Why a SCRAM exchange failed. Each variant reads as a sentence in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScramError {
    /// The system random number generator failed.
    Random,
    /// A server message was longer than [`MAX_SERVER_MESSAGE`].
    TooLong(ServerMessage, usize),
    /// A server message was not UTF-8.
    NotUtf8(ServerMessage),
    /// A server message did not have the RFC 5802 shape; the text names what was wrong.
    Malformed(ServerMessage, &'static str),
    /// The server answered with `e=...` (its error text, shortened and made printable).
    ServerError(ServerMessage, String),
    /// server-first asked for an extension the client must understand (`m=`).
    MandatoryExtension,
    /// The server nonce does not start with the client nonce, or adds nothing to it.
    NonceMismatch,
    /// The iteration count is outside the accepted range.
    Iterations(u64),
    /// The server signature in server-final is not the one the password gives.
    BadServerSignature,
    /// A message arrived when the exchange was not expecting one.
    OutOfOrder(&'static str),
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::Random => f.write_str("the system random number generator failed"),
            ScramError::TooLong(which, len) => write!(
                f,
                "the broker's SCRAM {which} message is {len} bytes long, more than the \
                 {MAX_SERVER_MESSAGE} accepted"
            ),
            ScramError::NotUtf8(which) => {
                write!(f, "the broker's SCRAM {which} message is not UTF-8")
            }
            ScramError::Malformed(which, what) => {
                write!(
                    f,
                    "the broker sent a malformed SCRAM {which} message: {what}"
                )
            }
            ScramError::ServerError(which, text) => {
                write!(
                    f,
                    "the broker refused the SCRAM login in its {which} message: {text}"
                )
            }
            ScramError::MandatoryExtension => f.write_str(
                "the broker's SCRAM server-first message requires an extension (m=) this \
                 client does not support",
            ),
            ScramError::NonceMismatch => f.write_str(
                "the broker's SCRAM nonce does not extend the proxy's nonce: the answer \
                 belongs to another exchange",
            ),
            ScramError::Iterations(n) => write!(
                f,
                "the broker asks for {n} SCRAM iterations, outside the accepted \
                 {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ),
            ScramError::BadServerSignature => f.write_str(
                "the broker's SCRAM server signature is wrong: the broker could not prove it \
                 knows the password, so the proxy refuses it",
            ),
            ScramError::OutOfOrder(what) => write!(f, "SCRAM exchange out of order: {what}"),
        }
    }
}

impl std::error::Error for ScramError {}

/// Where the exchange stands.
enum State {
    /// client-first not built yet.
    Start,
    /// client-first sent; waiting for server-first.
    SentFirst,
    /// client-final sent; waiting for server-final, whose signature is HMAC(server key,
    /// auth message).
    SentFinal {
        server_key: hmac::Key,
        auth_message: Vec<u8>,
    },
    /// server-final verified.
    Done,
    /// A step failed; nothing more is accepted.
    Failed,
}

/// One SCRAM exchange, client side.
pub struct ScramClient {
    hash: ScramHash,
    password: Vec<u8>,
    nonce: String,
    client_first_bare: String,
    state: State,
}

// By hand, so the password can never reach a log through `{:?}`.
impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.hash.mechanism())
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A new exchange with a fresh random nonce.
    pub fn new(hash: ScramHash, username: &str, password: &str) -> Result<Self, ScramError> {
        let mut random = [0u8; NONCE_BYTES];
        SystemRandom::new()
            .fill(&mut random)
            .map_err(|_| ScramError::Random)?;
        Ok(Self::with_nonce(
            hash,
            username,
            password,
            &STANDARD_NO_PAD.encode(random),
        ))
    }

    /// A new exchange with a given nonce (test vectors). The nonce must be printable ASCII
    /// without commas.
    pub fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Self {
        ScramClient {
            hash,
            password: password.as_bytes().to_vec(),
            nonce: nonce.to_string(),
            client_first_bare: format!("n={},r={nonce}", sasl_name(username)),
            state: State::Start,
        }
    }

    pub fn mechanism(&self) -> &'static str {
        self.hash.mechanism()
    }

    /// Whether server-final has been verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The client-first message: GS2 header `n,,` and `n=user,r=nonce`.
    pub fn client_first(&mut self) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::Start) {
            return Err(self.fail("client-first built twice"));
        }
        self.state = State::SentFirst;
        Ok(format!("n,,{}", self.client_first_bare).into_bytes())
    }

    /// Checks server-first and returns the client-final message with the proof.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        if !matches!(self.state, State::SentFirst) {
            return Err(self.fail("server-first received before client-first was sent"));
        }
        let parsed = match parse_server_first(server_first, &self.nonce) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.state = State::Failed;
                return Err(e);
            }
        };
        let server_first = parsed.message;
        let without_proof = format!("c={CHANNEL_BINDING},r={}", parsed.nonce);
        let auth_message =
            format!("{},{server_first},{without_proof}", self.client_first_bare).into_bytes();

        let mut salted = vec![0u8; self.hash.digest().output_len()];
        pbkdf2::derive(
            self.hash.pbkdf2(),
            parsed.iterations,
            &parsed.salt,
            &self.password,
            &mut salted,
        );
        let salted_key = hmac::Key::new(self.hash.hmac(), &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(self.hash.digest(), client_key.as_ref());
        let client_signature = hmac::sign(
            &hmac::Key::new(self.hash.hmac(), stored_key.as_ref()),
            &auth_message,
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        self.state = State::SentFinal {
            server_key: hmac::Key::new(self.hash.hmac(), server_key.as_ref()),
            auth_message,
        };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Checks server-final: `v=` with the server signature the password gives, else an error.
    pub fn verify_server_final(&mut self, server_final: &[u8]) -> Result<(), ScramError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        let State::SentFinal {
            server_key,
            auth_message,
        } = state
        else {
            return Err(ScramError::OutOfOrder(
                "server-final received before client-final was sent",
            ));
        };
        let text = server_text(server_final, ServerMessage::Final)?;
        let mut attributes = text.split(',');
        let first = attributes.next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(ScramError::ServerError(
                ServerMessage::Final,
                peer_text(error),
            ));
        }
        let Some(signature) = first.strip_prefix("v=") else {
            return Err(ScramError::Malformed(
                ServerMessage::Final,
                "it does not start with v= (the server signature)",
            ));
        };
        let signature = STANDARD.decode(signature).map_err(|_| {
            ScramError::Malformed(ServerMessage::Final, "the server signature is not base64")
        })?;
        hmac::verify(&server_key, &auth_message, &signature)
            .map_err(|_| ScramError::BadServerSignature)?;
        self.state = State::Done;
        Ok(())
    }

    /// Takes the server's next message: server-first gives `Some(client-final)`, server-final
    /// (verified) gives `None`.
    pub fn respond(&mut self, server_message: &[u8]) -> Result<Option<Vec<u8>>, ScramError> {
        match self.state {
            State::SentFirst => self.client_final(server_message).map(Some),
            State::SentFinal { .. } => self.verify_server_final(server_message).map(|()| None),
            State::Done => Err(ScramError::OutOfOrder(
                "a server message after server-final",
            )),
            State::Start | State::Failed => Err(self.fail("a server message out of turn")),
        }
    }

    fn fail(&mut self, what: &'static str) -> ScramError {
        self.state = State::Failed;
        ScramError::OutOfOrder(what)
    }
}

/// The fields of a server-first message the client needs.
struct ServerFirst<'a> {
    message: &'a str,
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: NonZeroU32,
}

fn server_text(message: &[u8], which: ServerMessage) -> Result<&str, ScramError> {
    if message.len() > MAX_SERVER_MESSAGE {
        return Err(ScramError::TooLong(which, message.len()));
    }
    std::str::from_utf8(message).map_err(|_| ScramError::NotUtf8(which))
}

/// Parses `[m=ext,]r=nonce,s=salt,i=count[,extensions]` (RFC 5802 section 7).
fn parse_server_first<'a>(
    message: &'a [u8],
    client_nonce: &str,
) -> Result<ServerFirst<'a>, ScramError> {
    const WHICH: ServerMessage = ServerMessage::First;
    let text = server_text(message, WHICH)?;
    let malformed = |what| ScramError::Malformed(WHICH, what);
    let mut attributes = text.split(',');
    let mut first = attributes.next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        return Err(ScramError::ServerError(WHICH, peer_text(error)));
    }
    if first.starts_with("m=") {
        return Err(ScramError::MandatoryExtension);
    }
    let nonce = first
        .strip_prefix("r=")
        .ok_or(malformed("it does not start with r= (the nonce)"))?;
    if !nonce.starts_with(client_nonce) || nonce.len() <= client_nonce.len() {
        return Err(ScramError::NonceMismatch);
    }
    if !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(malformed(
            "the nonce has characters outside printable ASCII",
        ));
    }
    first = attributes.next().unwrap_or_default();
    let salt = first
        .strip_prefix("s=")
        .ok_or(malformed("the second attribute is not s= (the salt)"))?;
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| malformed("the salt is not base64"))?;
    if salt.is_empty() {
        return Err(malformed("the salt is empty"));
    }
    first = attributes.next().unwrap_or_default();
    let iterations = first.strip_prefix("i=").ok_or(malformed(
        "the third attribute is not i= (the iteration count)",
    ))?;
    if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the iteration count is not a number"));
    }
    // At most 20 digits fit a u64; more is out of range whatever the value.
    let count: u64 = iterations.parse().unwrap_or(u64::MAX);
    let iterations = u32::try_from(count)
        .ok()
        .filter(|n| (MIN_ITERATIONS..=MAX_ITERATIONS).contains(n))
        .and_then(NonZeroU32::new)
        .ok_or(ScramError::Iterations(count))?;
    // Further attributes are extensions (RFC 5802: "reserved for future extensibility"): a
    // client ignores those it does not know, but each must still look like `x=...`.
    for extension in attributes {
        let bytes = extension.as_bytes();
        if bytes.len() < 2 || !bytes[0].is_ascii_alphabetic() || bytes[1] != b'=' {
            return Err(malformed(
                "an attribute after i= is not of the form x=value",
            ));
        }
    }
    Ok(ServerFirst {
        message: text,
        nonce,
        salt,
        iterations,
    })
}

/// Entry point of the `sasl_messages` fuzz target (with [`super::upstream::fuzz_client_sasl`]):
/// arbitrary bytes as a server-first and as a server-final message. Neither may panic, and only
/// the one right signature may verify. No PBKDF2 runs, so each input costs microseconds.
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_server_messages(data: &[u8]) {
    if let Ok(parsed) = parse_server_first(data, "fuzz-nonce") {
        assert!(parsed.nonce.starts_with("fuzz-nonce") && parsed.nonce.len() > 10);
        assert!(!parsed.salt.is_empty());
        assert!((MIN_ITERATIONS..=MAX_ITERATIONS).contains(&parsed.iterations.get()));
    }
    let server_key = hmac::Key::new(hmac::HMAC_SHA256, b"fuzz server key");
    let mut client = ScramClient {
        hash: ScramHash::Sha256,
        password: Vec::new(),
        nonce: "fuzz-nonce".into(),
        client_first_bare: "n=fuzz,r=fuzz-nonce".into(),
        state: State::SentFinal {
            server_key,
            auth_message: b"fuzz auth message".to_vec(),
        },
    };
    let verified = client.verify_server_final(data).is_ok();
    let right = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, b"fuzz server key"),
        b"fuzz auth message",
    );
    if verified {
        let text = std::str::from_utf8(data).unwrap_or_default();
        let signature = text.split(',').next().unwrap_or_default();
        assert_eq!(signature, format!("v={}", STANDARD.encode(right.as_ref())));
    }
}

/// A username as a SCRAM `saslname`: `=` becomes `=3D` and `,` becomes `=2C` (RFC 5802 5.1).
pub fn sasl_name(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

#[cfg(test)]
mod tests;

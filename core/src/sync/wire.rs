//! The sync protocol's messages and their binary envelope.
//!
//! Every message is `FSYN` (4 bytes), a protocol version (1 byte), a message
//! kind (1 byte), then the body in postcard (varints, length-prefixed bytes).
//! Automerge changes and sync messages travel as raw bytes inside the body.
//! Anything else (another magic, another version, a truncated or malformed
//! body, trailing bytes) is refused with a clear error before anything is
//! applied.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::signing::ChangeSignature;

const MAGIC: &[u8; 4] = b"FSYN";

/// The protocol version this build speaks. Version 2: changes travel with
/// their authors' signatures. Version 3: requests and answers carry a
/// [`LogMark`], so a device notices a relay restored from a backup.
/// Version 4: answers name the documents that left the device's scope
/// ([`SyncResponse::departed`]).
pub const PROTOCOL_VERSION: u8 = 4;

const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;

/// A document id on the wire.
pub type WireDocId = [u8; 16];

/// A change hash on the wire.
pub type WireHash = [u8; 32];

/// A place in one relay database's log: which database (its identity, made
/// when it was created), an entry's sequence number, and a fingerprint of
/// that entry. A device keeps the newest mark it was sent and sends it back;
/// if the relay's database is another one, or its log no longer has that
/// entry as it was (the database was restored from a backup, so later
/// entries were lost or their numbers reused), the relay tells the device to
/// send everything again ([`SyncResponse::reset`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMark {
    /// The identity of the relay's database.
    pub relay: [u8; 16],
    /// The entry's sequence number (0: the device has never synced).
    pub seq: u64,
    /// The entry's fingerprint.
    pub check: [u8; 8],
}

/// What a device sends: its new changes, and where it is in the relay's log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// The relay sequence number up to which the device has everything it may see.
    pub cursor: u64,
    /// The newest place in the relay's log the device was told of: at or
    /// after the cursor and every change of the device's the relay accepted.
    pub mark: LogMark,
    /// The device's new changes, one entry per document.
    pub pushes: Vec<Push>,
    /// Automerge sync messages for documents being reconciled the slow way.
    pub reconcile: Vec<DocMessage>,
}

/// New changes to one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    /// The document.
    pub doc: WireDocId,
    /// Automerge changes (the output of `save_after`).
    pub changes: Vec<u8>,
    /// The signatures of those changes.
    pub signatures: Vec<ChangeSignature>,
}

/// An Automerge sync message about one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMessage {
    /// The document.
    pub doc: WireDocId,
    /// The Automerge sync message.
    pub message: Vec<u8>,
    /// Signatures of the changes the message may carry.
    pub signatures: Vec<ChangeSignature>,
}

/// What the relay did with a push or a reconcile message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Stored; the relay now holds these changes.
    Accepted,
    /// Not stored, with the reason to show the user.
    Refused(String),
    /// The relay lacks changes these depend on: reconcile this document with
    /// Automerge's sync protocol.
    Reconcile,
}

/// Changes to one document the device has not seen yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// The document.
    pub doc: WireDocId,
    /// The relay's heads once these changes are applied.
    pub heads: Vec<WireHash>,
    /// Automerge changes.
    pub changes: Vec<u8>,
    /// Their signatures, as the relay received them.
    pub signatures: Vec<ChangeSignature>,
}

/// The relay's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The device's new cursor, once it has applied this answer.
    pub cursor: u64,
    /// The newest entry of the relay's log once this request was committed.
    pub mark: LogMark,
    /// More updates are waiting: ask again.
    pub more: bool,
    /// The relay does not know the device's mark (its database was restored
    /// from a backup, or is another one): forget what the relay is known to
    /// hold and send everything.
    pub reset: bool,
    /// One outcome per push, in the order of the request.
    pub pushes: Vec<Outcome>,
    /// Documents changed since the device's cursor.
    pub updates: Vec<Update>,
    /// One outcome per reconcile message of the request, in its order.
    pub reconcile_outcomes: Vec<Outcome>,
    /// The relay's Automerge sync messages in reply.
    pub reconcile: Vec<DocMessage>,
    /// Documents no longer the device's (its customer was reassigned to
    /// another salesperson or region): the device removes each once nothing
    /// of its own in it is waiting to be sent.
    pub departed: Vec<WireDocId>,
}

/// Encodes a request.
pub fn encode_request(r: &SyncRequest) -> Result<Vec<u8>> {
    encode(KIND_REQUEST, r)
}

/// Encodes a response.
pub fn encode_response(r: &SyncResponse) -> Result<Vec<u8>> {
    encode(KIND_RESPONSE, r)
}

/// Decodes a request, refusing anything malformed.
pub fn decode_request(bytes: &[u8]) -> Result<SyncRequest> {
    decode(KIND_REQUEST, "request", bytes)
}

/// Decodes a response, refusing anything malformed.
pub fn decode_response(bytes: &[u8]) -> Result<SyncResponse> {
    decode(KIND_RESPONSE, "response", bytes)
}

fn encode<T: Serialize>(kind: u8, body: &T) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(kind);
    postcard::to_extend(body, out).map_err(|e| Error::Protocol(format!("could not encode: {e}")))
}

fn decode<T: for<'de> Deserialize<'de>>(kind: u8, what: &str, bytes: &[u8]) -> Result<T> {
    if bytes.len() < 6 || &bytes[..4] != MAGIC {
        return Err(Error::Protocol(format!(
            "this is not a fieldsync sync {what} (it does not start with FSYN)"
        )));
    }
    if bytes[4] != PROTOCOL_VERSION {
        return Err(Error::Protocol(format!(
            "sync protocol version {} is not supported; this build speaks version {PROTOCOL_VERSION} (update the app or the relay)",
            bytes[4]
        )));
    }
    if bytes[5] != kind {
        return Err(Error::Protocol(format!(
            "expected a sync {what}, got another kind of message"
        )));
    }
    let (body, rest) = postcard::take_from_bytes::<T>(&bytes[6..])
        .map_err(|e| Error::Protocol(format!("the sync {what} is malformed or truncated ({e})")))?;
    if !rest.is_empty() {
        return Err(Error::Protocol(format!(
            "the sync {what} has {} unexpected bytes at its end",
            rest.len()
        )));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SyncRequest {
        SyncRequest {
            cursor: 42,
            mark: LogMark {
                relay: [3; 16],
                seq: 43,
                check: [4; 8],
            },
            pushes: vec![Push {
                doc: [7; 16],
                changes: vec![1, 2, 3],
                signatures: vec![ChangeSignature {
                    change: [1; 32],
                    signature: vec![2; 64],
                }],
            }],
            reconcile: vec![],
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode_request(&sample()).unwrap();
        assert_eq!(decode_request(&bytes).unwrap(), sample());
        let resp = SyncResponse {
            cursor: 9,
            pushes: vec![
                Outcome::Accepted,
                Outcome::Refused("no".into()),
                Outcome::Reconcile,
            ],
            ..Default::default()
        };
        assert_eq!(
            decode_response(&encode_response(&resp).unwrap()).unwrap(),
            resp
        );
    }

    #[test]
    fn an_idle_request_is_tiny() {
        let bytes = encode_request(&SyncRequest {
            cursor: 1_000_000,
            mark: LogMark {
                relay: [0xab; 16],
                seq: 1_000_000,
                check: [0xcd; 8],
            },
            ..Default::default()
        })
        .unwrap();
        // The header, the cursor and the mark: 16 bytes of identity, the
        // entry's number and its 8-byte fingerprint.
        assert!(bytes.len() <= 40, "{} bytes", bytes.len());
    }

    #[test]
    fn malformed_input_is_refused() {
        let good = encode_request(&sample()).unwrap();
        let mut wrong_version = good.clone();
        wrong_version[4] = 9;
        let e = decode_request(&wrong_version).unwrap_err().to_string();
        assert!(e.contains("version 9 is not supported"), "{e}");
        for cut in 0..good.len() {
            assert!(decode_request(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_request(&trailing).is_err());
        assert!(decode_request(b"GET / HTTP/1.1").is_err());
        assert!(
            decode_response(&good).is_err(),
            "a request is not a response"
        );
        // A length prefix claiming far more bytes than there are.
        let mut huge = good[..6].to_vec();
        huge.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode_request(&huge).is_err());
    }
}

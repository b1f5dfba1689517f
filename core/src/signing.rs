//! Proof of authorship: every change a device makes is signed with the
//! device's ed25519 key, made on the device at enrollment (the secret never
//! leaves it). The relay knows each device's public key and refuses a change
//! whose signature does not match the device its message names; head-office
//! edits are signed by the relay's own key on behalf of the signed-in user.
//!
//! A signature covers the change's hash, and the hash covers everything in
//! the change, its author line included. Signatures travel with the changes
//! (pushes, the relay's log, its answers, the phone's store), so a change can
//! be re-sent later by any device and still be verified.

use automerge::ChangeHash;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What is signed: this prefix, then the 32 bytes of the change hash.
const DOMAIN: &[u8] = b"fieldsync change v1\0";

/// A device's signing key (secret). Kept in the device's store.
#[derive(Clone)]
pub struct DeviceKey(SigningKey);

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey({})", self.public())
    }
}

impl DeviceKey {
    /// A new random key.
    pub fn generate() -> Result<DeviceKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::Store(format!("no randomness for a signing key ({e})")))?;
        Ok(DeviceKey(SigningKey::from_bytes(&seed)))
    }

    /// The key from the 32 bytes [`DeviceKey::to_bytes`] gave.
    pub fn from_bytes(bytes: &[u8]) -> Result<DeviceKey> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Corrupt("a stored signing key is damaged".into()))?;
        Ok(DeviceKey(SigningKey::from_bytes(&seed)))
    }

    /// The secret, for the device's store.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half, which the relay keeps.
    pub fn public(&self) -> DevicePublicKey {
        DevicePublicKey(self.0.verifying_key())
    }

    /// Signs the change with hash `change`.
    pub fn sign(&self, change: &ChangeHash) -> ChangeSignature {
        let signature = self.0.sign(&signed_bytes(change));
        ChangeSignature {
            change: change.0,
            signature: signature.to_bytes().to_vec(),
        }
    }
}

/// A device's public key, as the relay keeps it and enrollment sends it
/// (64 hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePublicKey(VerifyingKey);

impl DevicePublicKey {
    /// Reads a key written by [`DevicePublicKey::to_hex`].
    pub fn from_hex(text: &str) -> Result<DevicePublicKey> {
        let bad = || Error::InvalidIdentifier {
            what: "device public key",
            value: text.chars().take(80).collect(),
            hint: "send the device's ed25519 public key as 64 hex digits",
        };
        let bytes: [u8; 32] = from_hex(text.trim())
            .and_then(|b| b.try_into().ok())
            .ok_or_else(bad)?;
        match VerifyingKey::from_bytes(&bytes) {
            // A weak (small-order) key would let anyone sign as the device.
            Ok(key) if !key.is_weak() => Ok(DevicePublicKey(key)),
            _ => Err(bad()),
        }
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        to_hex(self.0.as_bytes())
    }

    /// Is `signature` this key's signature of its change?
    pub fn verifies(&self, signature: &ChangeSignature) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&signature.signature) else {
            return false;
        };
        self.0
            .verify_strict(&signed_bytes(&ChangeHash(signature.change)), &sig)
            .is_ok()
    }
}

impl DevicePublicKey {
    /// Are all `signatures` this key's signatures of their changes? Checked
    /// together (ed25519 batch verification, about half the cost of checking
    /// each); `false` if any one is not.
    pub fn verifies_all(&self, signatures: &[&ChangeSignature]) -> bool {
        if signatures.len() < 2 {
            return signatures.iter().all(|s| self.verifies(s));
        }
        let mut sigs = Vec::with_capacity(signatures.len());
        for s in signatures {
            match ed25519_dalek::Signature::from_slice(&s.signature) {
                Ok(sig) => sigs.push(sig),
                Err(_) => return false,
            }
        }
        let messages: Vec<Vec<u8>> = signatures
            .iter()
            .map(|s| signed_bytes(&ChangeHash(s.change)))
            .collect();
        let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let keys = vec![self.0; signatures.len()];
        ed25519_dalek::verify_batch(&messages, &sigs, &keys).is_ok()
    }
}

impl std::fmt::Display for DevicePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A change's signature, as it travels and is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    /// The change's hash.
    pub change: [u8; 32],
    /// The ed25519 signature (64 bytes) of the change by the device its
    /// message names.
    pub signature: Vec<u8>,
}

fn signed_bytes(change: &ChangeHash) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 32);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&change.0);
    m
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// Encodes signatures for a store column.
pub(crate) fn encode_signatures(signatures: &[ChangeSignature]) -> Vec<u8> {
    postcard::to_allocvec(signatures).unwrap_or_default()
}

/// Decodes a store column written by [`encode_signatures`] (empty: none).
pub(crate) fn decode_signatures(bytes: &[u8]) -> Result<Vec<ChangeSignature>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    postcard::from_bytes(bytes).map_err(|_| Error::Store("stored signatures are damaged".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_with_its_key_only() {
        let (a, b) = (
            DeviceKey::generate().unwrap(),
            DeviceKey::generate().unwrap(),
        );
        let change = ChangeHash([7; 32]);
        let sig = a.sign(&change);
        assert!(a.public().verifies(&sig));
        assert!(!b.public().verifies(&sig));
        let mut other = sig.clone();
        other.change = [8; 32];
        assert!(!a.public().verifies(&other), "another change");
        let mut bent = sig.clone();
        bent.signature[0] ^= 1;
        assert!(!a.public().verifies(&bent));
        bent.signature.truncate(10);
        assert!(!a.public().verifies(&bent), "too short");
        // Together: all good, or not.
        let more: Vec<ChangeSignature> = (0..5u8).map(|i| a.sign(&ChangeHash([i; 32]))).collect();
        let refs: Vec<&ChangeSignature> = more.iter().collect();
        assert!(a.public().verifies_all(&refs));
        assert!(!b.public().verifies_all(&refs));
        let mut one_bad = more.clone();
        one_bad[3].change = [9; 32];
        let refs: Vec<&ChangeSignature> = one_bad.iter().collect();
        assert!(!a.public().verifies_all(&refs));
    }

    #[test]
    fn keys_round_trip_and_bad_ones_are_refused() {
        let k = DeviceKey::generate().unwrap();
        let again = DeviceKey::from_bytes(&k.to_bytes()).unwrap();
        assert_eq!(again.public(), k.public());
        let hex = k.public().to_hex();
        assert_eq!(hex.len(), 64);
        assert_eq!(DevicePublicKey::from_hex(&hex).unwrap(), k.public());
        // The identity point is a weak key: refused.
        let weak = format!("01{}", "00".repeat(31));
        for bad in ["", "zz", &hex[..62], &format!("{hex}00"), "é", &weak] {
            assert!(DevicePublicKey::from_hex(bad).is_err(), "{bad}");
        }
        let sigs = vec![k.sign(&ChangeHash([1; 32]))];
        assert_eq!(decode_signatures(&encode_signatures(&sigs)).unwrap(), sigs);
    }
}

//! Automerge sync messages, read and checked before Automerge acts on them.
//!
//! Automerge 0.12 trusts the Bloom filters in a message: one that claims 0
//! bits per entry makes it divide by zero, and one that asks for 2³²−1 probes
//! makes it allocate 16 GB and abort the process. A message is refused unless
//! each of its filters is one Automerge itself would make.

use automerge::sync::Message;

/// Most bits per entry and probes a filter may ask for (Automerge's own
/// filters use 10 and 7).
const MAX_FILTER_PARAMETER: u64 = 64;

/// Reads a sync message and checks its Bloom filters; `Err` says why not.
pub(crate) fn read_message(bytes: &[u8]) -> Result<Message, String> {
    let message =
        Message::decode(bytes).map_err(|e| format!("the sync message could not be read ({e})"))?;
    for have in &message.have {
        check_filter(&have.bloom.to_bytes())?;
    }
    Ok(message)
}

/// A filter as it is encoded: entries, bits per entry, probes, then the bits.
fn check_filter(encoded: &[u8]) -> Result<(), String> {
    if encoded.is_empty() {
        return Ok(()); // the empty filter
    }
    let mut rest = encoded;
    let mut next = || -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, tail) = rest
                .split_first()
                .ok_or_else(|| "the sync message's filter is cut short".to_string())?;
            rest = tail;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("the sync message's filter is malformed".into())
    };
    let (entries, bits_per_entry, probes) = (next()?, next()?, next()?);
    let sensible = |v: u64| (1..=MAX_FILTER_PARAMETER).contains(&v);
    if entries > 0 && !(sensible(bits_per_entry) && sensible(probes)) {
        return Err(format!(
            "the sync message's filter asks for {bits_per_entry} bits per entry and {probes} probes; at most {MAX_FILTER_PARAMETER} of each, and at least 1, are accepted"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_automerge_would_choke_on_are_refused() {
        // 0 bits per entry: a division by zero in automerge 0.12.
        let zero_bits = [0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0];
        let e = read_message(&zero_bits).unwrap_err();
        assert!(e.contains("0 bits per entry"), "{e}");
        // 2^32 - 1 probes: a 16 GB allocation.
        let many_probes = [
            0x42, 0, 0, 1, 0, 9, 1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0,
        ];
        let e = read_message(&many_probes).unwrap_err();
        assert!(e.contains("4294967295 probes"), "{e}");
    }

    #[test]
    fn automerges_own_messages_pass() {
        use automerge::sync::SyncDoc;
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "a", 1).unwrap();
        let mut state = automerge::sync::State::new();
        let m = doc.sync().generate_sync_message(&mut state).unwrap();
        read_message(&m.encode()).unwrap();
    }
}

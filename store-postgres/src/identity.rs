//! The identity of a relay database: random, made when the database is
//! first migrated, and the same for every relay process over it. Devices
//! are sent it with every answer and notice a different one as a relay
//! restored from a backup (and send everything again), so every relay
//! behind one load balancer must report the same.

use postgres::GenericClient;

use crate::error::{Error, Result};

/// The database's identity, made on first use by whichever relay comes
/// first (the others read the same).
pub fn database_identity(client: &mut impl GenericClient) -> Result<[u8; 16]> {
    crate::schema::change(
        client,
        "CREATE TABLE IF NOT EXISTS relay_identity (
             one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
             id UUID NOT NULL DEFAULT gen_random_uuid()
         );
         INSERT INTO relay_identity DEFAULT VALUES ON CONFLICT (one) DO NOTHING;",
    )?;
    let row = client.query_one("SELECT id::text FROM relay_identity", &[])?;
    let text: &str = row.get(0);
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut id = [0u8; 16];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(|| Error::Corrupt(format!("'{text}' is not a database identity")))?;
    }
    Ok(id)
}

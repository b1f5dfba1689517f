//! Users, devices and enrollment codes. Secrets (user API tokens, device
//! tokens, enrollment codes) are random, shown once, and stored only as SHA-256
//! hashes.

use chrono::{DateTime, Duration, Utc};
use fieldsync_core::signing::{DeviceKey, DevicePublicKey};
use fieldsync_core::store::{Migration, migrate};
use fieldsync_core::sync::{Sender, Signers};
use fieldsync_core::{Actor, BusinessZone, OFFICE_DEVICE, Role};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};
use crate::readers::Readers;

const MIGRATIONS: &[Migration] = &[
    Migration {
        sql: "
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            region TEXT,
            token_hash BLOB NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        );
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            token_hash BLOB NOT NULL UNIQUE,
            order_prefix TEXT NOT NULL UNIQUE,
            enrolled_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE enrollment_codes (
            code_hash BLOB PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            expires_at TEXT NOT NULL,
            used_at TEXT,
            device_id TEXT
        );
    ",
        backfill: None,
    },
    // 2: each device's public signing key (sent at enrollment), and the
    // relay's own key, which signs head-office edits.
    Migration {
        sql: "
        ALTER TABLE devices ADD COLUMN public_key TEXT;
        CREATE TABLE relay_keys (name TEXT PRIMARY KEY, secret BLOB NOT NULL);
    ",
        backfill: None,
    },
    // 3: company-wide settings (the time zone that decides business dates).
    Migration {
        sql: "CREATE TABLE company_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
        backfill: None,
    },
    // 4: the company's regions, one list for users and imports (the regions
    // users already work in to start with).
    Migration {
        sql: "CREATE TABLE regions (name TEXT PRIMARY KEY);
              INSERT OR IGNORE INTO regions SELECT DISTINCT region FROM users WHERE region IS NOT NULL;",
        backfill: None,
    },
    // 5: the last order number head office gave out each business day
    // (orders split off at head office are numbered HQ-<day>-<n>).
    Migration {
        sql: "CREATE TABLE office_order_numbers (day TEXT PRIMARY KEY, last INTEGER NOT NULL);",
        backfill: None,
    },
    // 6: when each device last synced (written at most once a minute per
    // device), for the administrator's device list.
    Migration {
        sql: "ALTER TABLE devices ADD COLUMN last_sync_at TEXT;",
        backfill: None,
    },
    // 7: the web console: users' passwords (argon2id, PHC strings) and
    // sign-in sessions (the cookie's SHA-256 only).
    Migration {
        sql: "ALTER TABLE users ADD COLUMN password_hash TEXT;
              CREATE TABLE console_sessions (
                  token_hash BLOB PRIMARY KEY,
                  user_id TEXT NOT NULL REFERENCES users(id),
                  created_at TEXT NOT NULL,
                  last_seen_at TEXT NOT NULL
              );",
        backfill: None,
    },
];

/// The shortest password the console takes.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Sets (or resets) `user`'s console password, hashed with argon2id.
/// Signs them out of every session they had.
pub fn set_password(conn: &Connection, user_id: &str, password: &str) -> Result<()> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    user(conn, user_id)?;
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServerError::BadRequest(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| ServerError::Internal(format!("could not make a salt: {e}")))?;
    let phc = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| ServerError::Internal(format!("could not hash the password: {e}")))?
        .to_string();
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id, phc],
    )?;
    conn.execute("DELETE FROM console_sessions WHERE user_id = ?1", [user_id])?;
    Ok(())
}

/// The user `user_id` if `password` is theirs. Unknown users, users without
/// a password and wrong passwords get the same answer, after the same work.
pub fn check_password(conn: &Connection, user_id: &str, password: &str) -> Result<Actor> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    // Verified against when there is no hash, so an unknown user costs the same.
    const STAND_IN: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3RhbmQtaW4tc2FsdA$2cSVZxs3yDeqSt/O1CS2OmnJPzYtFg9C0GLuG8Cr5AU";
    let stored: Option<(Option<String>, User)> = conn
        .query_row(
            "SELECT password_hash, id, name, role, region FROM users WHERE id = ?1",
            [user_id],
            |r| {
                Ok((
                    r.get(0)?,
                    User {
                        id: r.get(1)?,
                        name: r.get(2)?,
                        role: r.get(3)?,
                        region: r.get(4)?,
                    },
                ))
            },
        )
        .optional()?;
    let phc = stored
        .as_ref()
        .and_then(|(h, _)| h.clone())
        .unwrap_or_else(|| STAND_IN.to_string());
    let verified = PasswordHash::new(&phc)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    match stored {
        Some((Some(_), u)) if verified => actor_of(&u, OFFICE_DEVICE),
        _ => Err(ServerError::Unauthorized(
            "the user id or the password is wrong".into(),
        )),
    }
}

/// Opens a console session for `user_id`; returns the cookie's secret.
pub fn open_session(conn: &Connection, user_id: &str) -> Result<String> {
    let t = token("fss")?;
    let now = Utc::now().to_rfc3339();
    conn.execute(
        "INSERT INTO console_sessions (token_hash, user_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?3)",
        params![hash(&t), user_id, now],
    )?;
    Ok(t)
}

/// What a console session cookie stands for, as read (nothing is written:
/// a read-only connection will do).
#[derive(Debug)]
pub enum Session {
    /// Signed in.
    Open {
        /// Who, as a head-office user.
        actor: Actor,
        /// Its last use was written over a minute ago (see [`touch_session`]).
        stale: bool,
    },
    /// Unused for longer than the idle limit: to be closed.
    Idle,
    /// No such session.
    Unknown,
}

/// The session of cookie secret `secret`, given that one unused for `idle`
/// has ended.
pub fn find_session(conn: &Connection, secret: &str, idle: Duration) -> Result<Session> {
    let now = Utc::now();
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT user_id, last_seen_at FROM console_sessions WHERE token_hash = ?1",
            [hash(secret)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((user_id, seen)) = row else {
        return Ok(Session::Unknown);
    };
    let seen = DateTime::parse_from_rfc3339(&seen)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(DateTime::UNIX_EPOCH);
    if now - seen > idle {
        return Ok(Session::Idle);
    }
    let u = user(conn, &user_id)?;
    Ok(Session::Open {
        actor: actor_of(&u, OFFICE_DEVICE)?,
        stale: now - seen > Duration::minutes(1),
    })
}

/// Records that session `secret` was used now.
pub fn touch_session(conn: &Connection, secret: &str) -> Result<()> {
    conn.execute(
        "UPDATE console_sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
        params![hash(secret), Utc::now().to_rfc3339()],
    )?;
    Ok(())
}

/// Closes session `secret` (signing out).
pub fn close_session(conn: &Connection, secret: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM console_sessions WHERE token_hash = ?1",
        [hash(secret)],
    )?;
    Ok(())
}

/// Records that devices synced at `at`.
pub fn record_syncs(conn: &Connection, devices: &[String], at: DateTime<Utc>) -> Result<()> {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut stmt = conn.prepare_cached("UPDATE devices SET last_sync_at = ?2 WHERE id = ?1")?;
    for d in devices {
        stmt.execute(params![d, at])?;
    }
    Ok(())
}

/// The prefix of order numbers head office gives out (devices get S01, S02…).
pub const OFFICE_ORDER_PREFIX: &str = "HQ";

/// The next order number head office gives out on business day `day`:
/// `HQ-<day>-<n>`, counted per day, never given out twice (a number whose
/// order was not committed is skipped, not reused).
pub fn next_office_order_number(
    conn: &Connection,
    day: chrono::NaiveDate,
) -> Result<fieldsync_core::OrderNumber> {
    let last: i64 = conn.query_row(
        "INSERT INTO office_order_numbers (day, last) VALUES (?1, 1)
         ON CONFLICT (day) DO UPDATE SET last = last + 1
         RETURNING last",
        [day.to_string()],
        |r| r.get(0),
    )?;
    let sequence = u32::try_from(last).map_err(|_| {
        ServerError::BadRequest(format!(
            "head office has given out every order number for {day}"
        ))
    })?;
    Ok(fieldsync_core::OrderNumber::new(
        fieldsync_core::OrderPrefix::new(OFFICE_ORDER_PREFIX)?,
        day,
        sequence,
    )?)
}

/// The company's regions, in order.
pub fn regions(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM regions ORDER BY name")?;
    let names = stmt.query_map([], |r| r.get(0))?;
    Ok(names.collect::<rusqlite::Result<_>>()?)
}

/// Adds a region to the company's list (creating a salesperson or manager
/// in a region adds it too). Returns false if it was there already.
pub fn add_region(conn: &Connection, name: &str) -> Result<bool> {
    // A region must be usable in a user's identity.
    let actor = Actor::new("check", Role::Manager, Some(name), "check")?;
    let name = actor.region().unwrap_or(name);
    Ok(conn.execute("INSERT OR IGNORE INTO regions (name) VALUES (?1)", [name])? == 1)
}

/// The company's time zone (`Asia/Shanghai` until an administrator sets
/// another with `admin set-time-zone`).
pub fn time_zone(conn: &Connection) -> Result<BusinessZone> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM company_settings WHERE key = 'time_zone'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(stored
        .map(|z| BusinessZone::parse(&z))
        .transpose()?
        .unwrap_or_default())
}

/// Sets the company's time zone. The relay uses it from its next start;
/// phones enrolled from then on get it with their enrollment.
pub fn set_time_zone(conn: &Connection, zone: BusinessZone) -> Result<()> {
    conn.execute(
        "INSERT INTO company_settings (key, value) VALUES ('time_zone', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [zone.name()],
    )?;
    Ok(())
}

/// Creates the account tables, or brings them up to date.
pub fn migrate_accounts(conn: &mut Connection) -> Result<()> {
    migrate(conn, "accounts", MIGRATIONS)?;
    Ok(())
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Login id (`li.wei`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Region, for salespeople and managers.
    pub region: Option<String>,
}

/// What a device gets at enrollment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Enrollment {
    /// The device's id.
    pub device_id: String,
    /// The device's secret token: send as `Authorization: Bearer …`.
    pub device_token: String,
    /// The device's order-number prefix.
    pub order_prefix: String,
    /// The user the device belongs to.
    pub user: String,
    /// The user's role.
    pub role: String,
    /// The user's region.
    pub region: Option<String>,
    /// The company's time zone (an IANA name): the business date of orders.
    #[serde(default = "default_zone")]
    pub time_zone: String,
}

fn default_zone() -> String {
    BusinessZone::default().name().to_string()
}

fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.trim().as_bytes()).to_vec()
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| ServerError::Internal(format!("no randomness: {e}")))?;
    Ok(b)
}

fn token(prefix: &str) -> Result<String> {
    let b = random_bytes::<32>()?;
    Ok(format!(
        "{prefix}_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// A code a person can type: 12 letters and digits without look-alikes, in groups.
fn enrollment_code() -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let b = random_bytes::<12>()?;
    let chars: Vec<char> = b
        .iter()
        .map(|x| ALPHABET[(*x as usize) % ALPHABET.len()] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// Creates a user; returns the user's API token (shown once).
pub fn create_user(
    conn: &Connection,
    id: &str,
    name: &str,
    role: Role,
    region: Option<&str>,
) -> Result<String> {
    // The id and region must make a valid actor.
    Actor::new(id, role, region, "check")?;
    if matches!(role, Role::Salesperson | Role::Manager) && region.is_none() {
        return Err(ServerError::BadRequest(format!(
            "{} needs a region (--region)",
            role.with_article()
        )));
    }
    let exists = conn
        .query_row("SELECT 1 FROM users WHERE id = ?1", [id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Err(ServerError::BadRequest(format!("user {id} already exists")));
    }
    let t = token("fsu")?;
    conn.execute(
        "INSERT INTO users (id, name, role, region, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, name.trim(), role.as_str(), region, hash(&t), Utc::now().to_rfc3339()],
    )?;
    if let Some(r) = region {
        add_region(conn, r)?;
    }
    Ok(t)
}

/// Looks a user up.
pub fn user(conn: &Connection, id: &str) -> Result<User> {
    conn.query_row(
        "SELECT id, name, role, region FROM users WHERE id = ?1",
        [id],
        |r| {
            Ok(User {
                id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                region: r.get(3)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| ServerError::NotFound(format!("there is no user {id}")))
}

/// All users.
pub fn users(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn.prepare("SELECT id, name, role, region FROM users ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        Ok(User {
            id: r.get(0)?,
            name: r.get(1)?,
            role: r.get(2)?,
            region: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn actor_of(user: &User, device: &str) -> Result<Actor> {
    Ok(Actor::new(
        &user.id,
        user.role.parse()?,
        user.region.as_deref(),
        device,
    )?)
}

/// The head-office user behind an API token.
pub fn authenticate_user(conn: &Connection, token: &str) -> Result<Actor> {
    let id: Option<String> = conn
        .query_row(
            "SELECT id FROM users WHERE token_hash = ?1",
            [hash(token)],
            |r| r.get(0),
        )
        .optional()?;
    let id = id.ok_or_else(|| ServerError::Unauthorized("this API token is not valid".into()))?;
    let u = user(conn, &id)?;
    actor_of(&u, OFFICE_DEVICE)
}

/// The device behind a device token; revoked devices are refused.
pub fn authenticate_device(conn: &Connection, token: &str) -> Result<Sender> {
    let row: Option<(String, String, Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT id, user_id, revoked_at, public_key FROM devices WHERE token_hash = ?1",
            [hash(token)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let (device, user_id, revoked, public_key) = row.ok_or_else(|| {
        ServerError::Unauthorized("this device token is not valid; enroll the device again".into())
    })?;
    if revoked.is_some() {
        return Err(ServerError::Unauthorized(format!(
            "device {device} was revoked; ask your administrator for a new enrollment code"
        )));
    }
    let key = public_key
        .map(|k| DevicePublicKey::from_hex(&k))
        .transpose()
        .map_err(|_| ServerError::Internal(format!("device {device}'s stored key is damaged")))?;
    Ok(Sender::new(actor_of(&user(conn, &user_id)?, &device)?, key))
}

/// The enrolled device `device`, if it is not revoked: its user and key.
pub fn enrolled_device(conn: &Connection, device: &str) -> Result<Option<Sender>> {
    let row: Option<(String, Option<String>)> = conn
        .prepare_cached(
            "SELECT user_id, public_key FROM devices WHERE id = ?1 AND revoked_at IS NULL",
        )?
        .query_row([device], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((user_id, public_key)) = row else {
        return Ok(None);
    };
    let key = public_key.and_then(|k| DevicePublicKey::from_hex(&k).ok());
    Ok(Some(Sender::new(
        actor_of(&user(conn, &user_id)?, device)?,
        key,
    )))
}

/// Who may have signed the changes a device sends besides the device
/// itself: the enrolled devices and the head-office users, read from the
/// accounts tables (a device re-sends others' changes after the relay was
/// restored from a backup).
pub struct EnrolledSigners {
    readers: Readers,
}

impl EnrolledSigners {
    /// The signers registered in the database at `path`.
    pub fn new(path: &std::path::Path) -> Self {
        EnrolledSigners {
            readers: Readers::new(path),
        }
    }
}

impl Signers for EnrolledSigners {
    fn device(&self, device: &str) -> fieldsync_core::Result<Option<Sender>> {
        let conn = self.readers.get().map_err(core_error)?;
        enrolled_device(&conn, device).map_err(core_error)
    }

    fn office_user(&self, user_id: &str) -> fieldsync_core::Result<Option<Actor>> {
        let conn = self.readers.get().map_err(core_error)?;
        match user(&conn, user_id) {
            Ok(u) => actor_of(&u, OFFICE_DEVICE).map(Some).map_err(core_error),
            Err(ServerError::NotFound(_)) => Ok(None),
            Err(e) => Err(core_error(e)),
        }
    }
}

fn core_error(e: ServerError) -> fieldsync_core::Error {
    fieldsync_core::Error::Store(e.to_string())
}

/// Gives a device enrolled before changes were signed its public key (sent
/// once by the updated app, authenticated by the device's token). A device
/// that has a key keeps it: to replace it, the device enrolls again.
pub fn register_key(conn: &Connection, token: &str, key: &DevicePublicKey) -> Result<()> {
    let sender = authenticate_device(conn, token)?;
    match sender.key {
        None => {
            conn.execute(
                "UPDATE devices SET public_key = ?2 WHERE id = ?1 AND public_key IS NULL",
                params![sender.actor.device(), key.to_hex()],
            )?;
            Ok(())
        }
        Some(k) if k == *key => Ok(()),
        Some(_) => Err(ServerError::Forbidden(format!(
            "device {} already has a signing key; to use another, enroll the device again",
            sender.actor.device()
        ))),
    }
}

/// The relay's own signing key (made on first use): head-office edits are
/// signed with it on behalf of the signed-in user.
pub fn office_key(conn: &Connection) -> Result<DeviceKey> {
    let stored: Option<Vec<u8>> = conn
        .query_row(
            "SELECT secret FROM relay_keys WHERE name = 'office'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(secret) = stored {
        return Ok(DeviceKey::from_bytes(&secret)?);
    }
    let key = DeviceKey::generate()?;
    conn.execute(
        "INSERT INTO relay_keys (name, secret) VALUES ('office', ?1)",
        [key.to_bytes().to_vec()],
    )?;
    Ok(key)
}

/// Issues a one-time enrollment code for `user_id`, valid for `valid_for`.
pub fn issue_code(
    conn: &Connection,
    user_id: &str,
    valid_for: Duration,
) -> Result<(String, DateTime<Utc>)> {
    user(conn, user_id)?;
    let code = enrollment_code()?;
    let expires = Utc::now() + valid_for;
    conn.execute(
        "INSERT INTO enrollment_codes (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        params![hash(&normalize_code(&code)), user_id, expires.to_rfc3339()],
    )?;
    Ok((code, expires))
}

/// Trades a one-time code for device credentials. The code works once and
/// only before it expires.
/// Enrolls a device with a one-time `code`; `public_key` is the device's
/// signing key, which its changes will be checked against.
pub fn enroll(
    conn: &mut Connection,
    code: &str,
    public_key: &DevicePublicKey,
    now: DateTime<Utc>,
) -> Result<Enrollment> {
    let tx = conn.transaction()?;
    let row: Option<(String, String, Option<String>)> = tx
        .query_row(
            "SELECT user_id, expires_at, used_at FROM enrollment_codes WHERE code_hash = ?1",
            [hash(&normalize_code(code))],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (user_id, expires, used) = row.ok_or_else(|| {
        ServerError::Unauthorized(
            "this enrollment code is not valid; check it or ask for a new one".into(),
        )
    })?;
    if used.is_some() {
        return Err(ServerError::Unauthorized(
            "this enrollment code was already used; ask for a new one".into(),
        ));
    }
    let expires = DateTime::parse_from_rfc3339(&expires)
        .map_err(|_| ServerError::Internal("a stored expiry is damaged".into()))?;
    if now > expires {
        return Err(ServerError::Unauthorized(
            "this enrollment code has expired; ask for a new one".into(),
        ));
    }
    let u = user(&tx, &user_id)?;
    let id_bytes = random_bytes::<6>()?;
    let device_id = format!(
        "d-{}",
        id_bytes
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    );
    let n: i64 = tx.query_row("SELECT count(*) FROM devices", [], |r| r.get(0))?;
    let order_prefix = format!("S{:02}", n + 1);
    let device_token = token("fsd")?;
    tx.execute(
        "INSERT INTO devices (id, user_id, token_hash, order_prefix, enrolled_at, public_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            device_id,
            user_id,
            hash(&device_token),
            order_prefix,
            now.to_rfc3339(),
            public_key.to_hex()
        ],
    )?;
    tx.execute(
        "UPDATE enrollment_codes SET used_at = ?2, device_id = ?3 WHERE code_hash = ?1",
        params![hash(&normalize_code(code)), now.to_rfc3339(), device_id],
    )?;
    tx.commit()?;
    Ok(Enrollment {
        device_id,
        device_token,
        order_prefix,
        user: u.id,
        role: u.role,
        region: u.region,
        time_zone: time_zone(conn)?.name().to_string(),
    })
}

/// Revokes a device: its token stops working at once.
pub fn revoke_device(conn: &Connection, device_id: &str) -> Result<()> {
    let n = conn.execute(
        "UPDATE devices SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![device_id, Utc::now().to_rfc3339()],
    )?;
    if n == 0 {
        return Err(ServerError::NotFound(format!(
            "there is no active device {device_id}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        migrate_accounts(&mut c).unwrap();
        c
    }

    #[test]
    fn console_passwords_are_argon2_and_sessions_expire_when_idle() {
        use argon2::password_hash::PasswordHash;
        let c = db();
        create_user(&c, "zhao", "Zhao", Role::Manager, Some("east")).unwrap();
        let e = check_password(&c, "zhao", "anything at all").unwrap_err();
        assert!(
            e.to_string()
                .contains("the user id or the password is wrong")
        );
        let e = set_password(&c, "zhao", "short").unwrap_err().to_string();
        assert!(e.contains("at least 10 characters"), "{e}");
        set_password(&c, "zhao", "correct horse battery").unwrap();
        let stored: String = c
            .query_row(
                "SELECT password_hash FROM users WHERE id = 'zhao'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(!stored.contains("correct horse"));
        assert_eq!(
            check_password(&c, "zhao", "correct horse battery")
                .unwrap()
                .user(),
            "zhao"
        );
        let wrong = check_password(&c, "zhao", "correct horse batterY").unwrap_err();
        let unknown = check_password(&c, "nobody", "correct horse battery").unwrap_err();
        assert_eq!(wrong.to_string(), unknown.to_string(), "no telling which");
        // The stand-in hash unknown users are checked against is a real one.
        let probe = "$argon2id$v=19$m=19456,t=2,p=1$c3RhbmQtaW4tc2FsdA$2cSVZxs3yDeqSt/O1CS2OmnJPzYtFg9C0GLuG8Cr5AU";
        assert!(PasswordHash::new(probe).is_ok());

        let secret = open_session(&c, "zhao").unwrap();
        let stored: Vec<u8> = c
            .query_row("SELECT token_hash FROM console_sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, secret.as_bytes(), "the cookie is stored hashed");
        let idle = Duration::minutes(30);
        let open = |secret: &str| match find_session(&c, secret, idle).unwrap() {
            Session::Open { actor, stale } => Some((actor.user().to_string(), stale)),
            _ => None,
        };
        let used = |minutes: i64| {
            c.execute(
                "UPDATE console_sessions SET last_seen_at = ?1",
                [(Utc::now() - Duration::minutes(minutes)).to_rfc3339()],
            )
            .unwrap();
        };
        assert_eq!(open(&secret), Some(("zhao".to_string(), false)));
        assert!(matches!(
            find_session(&c, "fss_forged", idle).unwrap(),
            Session::Unknown
        ));
        used(2);
        assert_eq!(
            open(&secret),
            Some(("zhao".to_string(), true)),
            "due a touch"
        );
        touch_session(&c, &secret).unwrap();
        assert_eq!(open(&secret), Some(("zhao".to_string(), false)));
        used(31);
        assert!(
            matches!(find_session(&c, &secret, idle).unwrap(), Session::Idle),
            "idle too long"
        );
        close_session(&c, &secret).unwrap();
        assert!(matches!(
            find_session(&c, &secret, idle).unwrap(),
            Session::Unknown
        ));
        let again = open_session(&c, "zhao").unwrap();
        // A new password signs every session out.
        set_password(&c, "zhao", "another long password").unwrap();
        assert!(matches!(
            find_session(&c, &again, idle).unwrap(),
            Session::Unknown
        ));
    }

    #[test]
    fn secrets_are_stored_hashed_and_work_once() {
        let mut c = db();
        let t = create_user(&c, "li", "Li Wei", Role::Salesperson, Some("east")).unwrap();
        let stored: Vec<u8> = c
            .query_row("SELECT token_hash FROM users", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, t.as_bytes());
        assert_eq!(authenticate_user(&c, &t).unwrap().user(), "li");
        assert!(authenticate_user(&c, "fsu_nope").is_err());
        let (code, _) = issue_code(&c, "li", Duration::hours(1)).unwrap();
        let key = DeviceKey::generate().unwrap().public();
        let e = enroll(&mut c, &code.to_lowercase(), &key, Utc::now()).unwrap();
        assert_eq!((e.user.as_str(), e.order_prefix.as_str()), ("li", "S01"));
        let a = authenticate_device(&c, &e.device_token).unwrap();
        assert_eq!(a.actor.device(), e.device_id);
        assert_eq!(a.key, Some(key), "the device's key is kept for its changes");
        assert!(
            matches!(enroll(&mut c, &code, &key, Utc::now()), Err(ServerError::Unauthorized(m)) if m.contains("already used"))
        );
        revoke_device(&c, &e.device_id).unwrap();
        assert!(
            matches!(authenticate_device(&c, &e.device_token), Err(ServerError::Unauthorized(m)) if m.contains("revoked"))
        );
    }

    #[test]
    fn the_office_key_is_made_once_and_kept() {
        let c = db();
        let first = office_key(&c).unwrap().public();
        assert_eq!(office_key(&c).unwrap().public(), first);
    }

    #[test]
    fn codes_expire() {
        let mut c = db();
        create_user(&c, "li", "Li", Role::Salesperson, Some("east")).unwrap();
        let (code, _) = issue_code(&c, "li", Duration::minutes(10)).unwrap();
        let later = Utc::now() + Duration::minutes(11);
        assert!(
            matches!(enroll(&mut c, &code, &DeviceKey::generate().unwrap().public(), later), Err(ServerError::Unauthorized(m)) if m.contains("expired"))
        );
    }

    #[test]
    fn users_need_valid_ids_and_regions() {
        let c = db();
        assert!(create_user(&c, "a b", "x", Role::Admin, None).is_err());
        assert!(create_user(&c, "li", "x", Role::Salesperson, None).is_err());
        create_user(&c, "li", "x", Role::Salesperson, Some("east")).unwrap();
        assert!(create_user(&c, "li", "x", Role::Salesperson, Some("east")).is_err());
        assert!(issue_code(&c, "nobody", Duration::hours(1)).is_err());
    }
}

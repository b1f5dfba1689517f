//! Who is making a change: the user, their role and region, and the device.
//!
//! Every change to a document carries its [`Actor`] in the Automerge change
//! message, so the per-field history can say who changed what, where and when.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// A role in the sales department (DOMAIN.md, "Who uses it").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// 业务员: in the field, owns customers, visits, orders and daily reports.
    Salesperson,
    /// 销售经理: approves orders and order changes within a region.
    Manager,
    /// 跟单 / 销售助理: enters and confirms orders, follows them to delivery.
    OrderDesk,
    /// 商品部: turns confirmed orders into production.
    Production,
    /// 仓库: books goods in and out, ships.
    Warehouse,
    /// 财务部: payments, receivables, credit limits.
    Finance,
    /// Users, devices, customers, catalog, price lists.
    Admin,
}

impl Role {
    /// Every role, in the order of DOMAIN.md.
    pub const ALL: [Role; 7] = [
        Role::Salesperson,
        Role::Manager,
        Role::OrderDesk,
        Role::Production,
        Role::Warehouse,
        Role::Finance,
        Role::Admin,
    ];

    /// The role as written in change messages and configuration.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Salesperson => "salesperson",
            Role::Manager => "manager",
            Role::OrderDesk => "order_desk",
            Role::Production => "production",
            Role::Warehouse => "warehouse",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    /// The role's letter in change messages (see `Actor::to_message`).
    fn letter(&self) -> &'static str {
        match self {
            Role::Salesperson => "s",
            Role::Manager => "m",
            Role::OrderDesk => "o",
            Role::Production => "p",
            Role::Warehouse => "w",
            Role::Finance => "f",
            Role::Admin => "a",
        }
    }

    fn from_letter(letter: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.letter() == letter)
    }

    /// The role in words with its article ("an order desk clerk"), to begin a sentence.
    pub fn with_article(&self) -> &'static str {
        match self {
            Role::Salesperson => "a salesperson",
            Role::Manager => "a sales manager",
            Role::OrderDesk => "an order desk clerk",
            Role::Production => "a production planner",
            Role::Warehouse => "a warehouse clerk",
            Role::Finance => "a finance clerk",
            Role::Admin => "an administrator",
        }
    }

    /// The role in words, without an article ("order desk clerk").
    pub fn in_words(&self) -> &'static str {
        match self {
            Role::Salesperson => "salesperson",
            Role::Manager => "sales manager",
            Role::OrderDesk => "order desk clerk",
            Role::Production => "production planner",
            Role::Warehouse => "warehouse clerk",
            Role::Finance => "finance clerk",
            Role::Admin => "administrator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::InvalidIdentifier {
                what: "role",
                value: s.to_string(),
                hint: "use salesperson, manager, order_desk, production, warehouse, finance or admin",
            })
    }
}

/// The person and device behind a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    user: String,
    role: Role,
    region: Option<String>,
    device: String,
}

/// The device name head-office edits carry: they are made at head office
/// (the API, the console, imports) and signed with the relay's office key.
pub const OFFICE_DEVICE: &str = "head-office";

impl Actor {
    /// An actor. `user`, `device` and `region` are identifiers: letters, digits
    /// and `. _ @ -`, at most 64 characters. Head-office users have no region.
    pub fn new(user: &str, role: Role, region: Option<&str>, device: &str) -> Result<Self> {
        Ok(Actor {
            user: identifier("user id", user)?,
            role,
            region: region.map(|r| identifier("region", r)).transpose()?,
            device: identifier("device id", device)?,
        })
    }

    /// The user id.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The user's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The user's region (salespeople and managers), if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The device the change is made on.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The Automerge change message that records this actor, in the short
    /// form every change carries: `fs2 <user> <role letter> <device>
    /// [<region>]`, e.g. `fs2 li s d-2f58cfee6f47 east` (28 bytes, against
    /// 71 for the first form, `fieldsync/1 user=li role=salesperson
    /// device=d-2f58cfee6f47 region=east`, which is still read).
    pub(crate) fn to_message(&self) -> String {
        let mut m = format!("fs2 {} {} {}", self.user, self.role.letter(), self.device);
        if let Some(r) = &self.region {
            m.push(' ');
            m.push_str(r);
        }
        m
    }

    /// Reads an actor back from a change message written by
    /// [`Actor::to_message`], in either form.
    pub(crate) fn from_message(message: &str) -> Option<Actor> {
        let mut words = message.split(' ');
        match words.next()? {
            "fs2" => {
                let user = words.next()?;
                let role = Role::from_letter(words.next()?)?;
                let device = words.next()?;
                let region = words.next();
                if words.next().is_some() {
                    return None;
                }
                Actor::new(user, role, region, device).ok()
            }
            "fieldsync/1" => {
                let (mut user, mut role, mut device, mut region) = (None, None, None, None);
                for w in words {
                    match w.split_once('=')? {
                        ("user", v) => user = Some(v),
                        ("role", v) => role = Some(v.parse().ok()?),
                        ("device", v) => device = Some(v),
                        ("region", v) => region = Some(v),
                        _ => return None,
                    }
                }
                Actor::new(user?, role?, region, device?).ok()
            }
            _ => None,
        }
    }
}

fn identifier(what: &'static str, value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::InvalidIdentifier {
            what,
            value: value.to_string(),
            hint: "use 1 to 64 letters, digits and . _ @ -",
        })
    }
}

/// The context of one edit: who makes it and when.
///
/// The time is the device's clock; it is recorded with the change and used for
/// events and deadlines as the device saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeCtx {
    /// Who makes the change.
    pub actor: Actor,
    /// When, in UTC.
    pub at: DateTime<Utc>,
}

impl ChangeCtx {
    /// A context for `actor` at time `at`, to the millisecond (as documents
    /// store instants, so what an edit wrote reads back the same).
    pub fn new(actor: Actor, at: DateTime<Utc>) -> Self {
        ChangeCtx {
            actor,
            at: crate::codec::stored_instant(at),
        }
    }

    /// A context for `actor` now (to the millisecond).
    pub fn now(actor: Actor) -> Self {
        Self::new(actor, Utc::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_round_trips() {
        let a = Actor::new("li.wei", Role::Salesperson, Some("east"), "dev-07").unwrap();
        assert_eq!(Actor::from_message(&a.to_message()), Some(a));
        let b = Actor::new("fin1", Role::Finance, None, "office").unwrap();
        assert_eq!(Actor::from_message(&b.to_message()), Some(b));
    }

    #[test]
    fn the_short_form_is_written_and_the_first_form_still_read() {
        let a = Actor::new("li", Role::Salesperson, Some("east"), "d-2f58cfee6f47").unwrap();
        assert_eq!(a.to_message(), "fs2 li s d-2f58cfee6f47 east");
        for r in Role::ALL {
            let b = Actor::new("u", r, None, "d").unwrap();
            assert_eq!(Actor::from_message(&b.to_message()), Some(b));
        }
        let first = "fieldsync/1 user=li role=salesperson device=d-2f58cfee6f47 region=east";
        assert_eq!(Actor::from_message(first), Some(a));
        assert_eq!(Actor::from_message("fs2 li x d"), None, "no such role");
        assert_eq!(Actor::from_message("fs2 li s"), None, "no device");
        assert_eq!(Actor::from_message("fs2 li s d east more"), None);
        assert_eq!(
            Actor::from_message("fs2 li s d e=st"),
            None,
            "not an identifier"
        );
    }

    #[test]
    fn foreign_messages_are_not_actors() {
        assert_eq!(Actor::from_message("hello"), None);
        assert_eq!(
            Actor::from_message("fieldsync/1 user=a role=pope device=d"),
            None
        );
        assert_eq!(Actor::from_message("fieldsync/1 user=a role=admin"), None);
    }

    #[test]
    fn identifiers_are_checked() {
        assert!(Actor::new("", Role::Admin, None, "d").is_err());
        assert!(Actor::new("a b", Role::Admin, None, "d").is_err());
        assert!(Actor::new("a", Role::Admin, Some("x=y"), "d").is_err());
        assert!(Actor::new(&"x".repeat(65), Role::Admin, None, "d").is_err());
    }

    #[test]
    fn roles_parse() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("boss".parse::<Role>().is_err());
    }
}

//! Reassigning a customer to another salesperson (and their region): the
//! customer and every document of it (orders, visits, complaints) are
//! filed under the new owner in one transaction. Their phones receive them
//! at the next sync; the phones they left are told to remove them, once
//! what they still had to send has landed (the relay accepts a phone's
//! offline changes to a document that moved away from it for
//! [`fieldsync_core::sync::MOVED_DOCUMENT_GRACE`]).

use fieldsync_core::{Actor, ChangeCtx, CustomerDoc, DocId, Document, Role};
use rusqlite::Connection;

use crate::accounts;
use crate::app::ServerRelay;
use crate::error::{Result, ServerError};

/// The documents filed under customer `customer`: its orders, visits and
/// complaints, as the head-office tables list them.
fn documents_of(conn: &Connection, customer: DocId) -> Result<Vec<DocId>> {
    let ids: Vec<String> = conn
        .prepare(
            "SELECT id FROM orders WHERE customer_id = ?1
             UNION SELECT id FROM visits WHERE customer_id = ?1
             UNION SELECT id FROM complaints WHERE customer_id = ?1",
        )?
        .query_map([customer.to_string()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ids.iter()
        .map(|id| {
            id.parse()
                .map_err(|_| ServerError::Internal("a stored document id is damaged".into()))
        })
        .collect()
}

/// The salesperson `owner` and their region, or why they cannot own customers.
pub(crate) fn salesperson_region(conn: &Connection, owner: &str) -> Result<String> {
    let u = accounts::user(conn, owner)?;
    match (u.role.parse::<Role>()?, u.region) {
        (Role::Salesperson, Some(region)) => Ok(region),
        (Role::Salesperson, None) => Err(ServerError::BadRequest(format!(
            "salesperson {owner} has no region; give them one first"
        ))),
        (role, _) => Err(ServerError::BadRequest(format!(
            "{owner} is {}; a customer belongs to a salesperson",
            role.with_article()
        ))),
    }
}

/// The customer's orders, visits and complaints moved to `owner` in
/// `region` by `ctx` (an administrator), ready to commit with the customer.
pub(crate) fn follow_customer(
    relay: &mut ServerRelay,
    ctx: &ChangeCtx,
    customer: DocId,
    owner: &str,
    region: &str,
) -> Result<Vec<Document>> {
    let ids = documents_of(relay.store().connection(), customer)?;
    let mut moved = Vec::with_capacity(ids.len());
    for id in ids {
        let mut doc = relay.load(id)?;
        if doc.meta().owner != owner || doc.meta().region.as_deref() != Some(region) {
            doc.move_to(ctx, owner, Some(region))?;
            moved.push(doc);
        }
    }
    Ok(moved)
}

/// Reassigns customer `customer` to salesperson `owner` (in their region),
/// as `actor` (an administrator), with all its documents. Returns how many
/// documents moved, the customer included.
pub fn reassign_customer(
    relay: &mut ServerRelay,
    actor: &Actor,
    customer: DocId,
    owner: &str,
) -> Result<usize> {
    let region = salesperson_region(relay.store().connection(), owner)?;
    let ctx = ChangeCtx::now(actor.clone());
    let mut c = CustomerDoc::from_document(relay.load(customer)?)?;
    c.reassign(&ctx, owner, &region)?;
    let mut docs = vec![c.document().fork()];
    docs.extend(follow_customer(relay, &ctx, customer, owner, &region)?);
    relay.commit_edits(actor, &mut docs)?;
    Ok(docs.len())
}

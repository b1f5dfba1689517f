//! The index a store keeps beside each document, so lists ("today's visits",
//! "my open orders") are answered without loading documents.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::complaint::Complaint;
use crate::customer::{Customer, CustomerStatus};
use crate::document::{DocKind, Document};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::order::Order;
use crate::report::DailyReport;
use crate::visit::{Visit, VisitStatus};

/// What a list shows of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The document.
    pub id: DocId,
    /// Its kind.
    pub kind: DocKind,
    /// Owner salesperson.
    pub owner: String,
    /// Region, if any.
    pub region: Option<String>,
    /// The customer it concerns (orders, visits, complaints; a customer itself).
    pub customer: Option<DocId>,
    /// Status in words: an order's `OrderStatus::as_str`, a visit's
    /// `planned`/`in_progress`/`done`/`cancelled`, a complaint's
    /// `open`/`resolved`/`closed`, a report's `draft`/`submitted`, a
    /// customer's `prospect`/`active`.
    pub status: String,
    /// Order number, for orders.
    pub number: Option<String>,
    /// A title for lists: the customer's name, a complaint's subject.
    pub title: String,
    /// Order total, for orders.
    pub total: Option<Decimal>,
    /// The instant lists sort and filter by: a visit's planned start, a
    /// report's day (00:00 UTC), otherwise creation.
    pub at: DateTime<Utc>,
}

/// Computes the index entry of a document.
pub fn index_entry(doc: &Document) -> Result<IndexEntry> {
    let meta = doc.meta();
    let kind = meta
        .doc_kind()
        .ok_or_else(|| Error::Corrupt(format!("unknown document kind {}", meta.kind)))?;
    let mut e = IndexEntry {
        id: meta.id,
        kind,
        owner: meta.owner.clone(),
        region: meta.region.clone(),
        customer: None,
        status: String::new(),
        number: None,
        title: String::new(),
        total: None,
        at: meta.created_at,
    };
    match kind {
        DocKind::Order => {
            let o = doc.view_ref::<Order>()?;
            e.customer = Some(o.customer);
            e.status = o.status().as_str().to_string();
            e.total = Some(o.total());
            e.title = o.customer_name.clone();
            e.number = Some(o.number.clone());
        }
        DocKind::Visit => {
            let v = doc.view_ref::<Visit>()?;
            e.customer = Some(v.customer);
            e.status = match v.status() {
                VisitStatus::Planned => "planned",
                VisitStatus::InProgress => "in_progress",
                VisitStatus::Done => "done",
                VisitStatus::Cancelled => "cancelled",
            }
            .to_string();
            e.title = v.customer_name.clone();
            e.at = v.plan.planned_start;
        }
        DocKind::Customer => {
            let c = doc.view_ref::<Customer>()?;
            e.customer = Some(c.meta.id);
            e.status = match c.status {
                CustomerStatus::Prospect => "prospect",
                CustomerStatus::Active => "active",
            }
            .to_string();
            e.title = c.name.clone();
        }
        DocKind::Complaint => {
            let c = doc.view_ref::<Complaint>()?;
            e.customer = Some(c.customer);
            e.status = c.status().in_words().to_string();
            e.title = c.subject.clone();
        }
        DocKind::DailyReport => {
            let r = doc.view_ref::<DailyReport>()?;
            e.status = if r.submitted_at().is_some() {
                "submitted"
            } else {
                "draft"
            }
            .to_string();
            e.title = format!("Daily report {}", r.date);
            e.at = r.date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        }
        DocKind::Catalog => {
            e.title = "Catalog".to_string();
        }
    }
    Ok(e)
}

//! # fieldsync-core
//!
//! The business of a field sales department as Automerge documents: customers,
//! the catalog, orders, visits, complaints and daily visit reports, each one
//! document with a typed API and the rules of `DOMAIN.md`.
//!
//! - Every edit takes a [`ChangeCtx`] (who, on which device, when), is checked
//!   against the actor's role and scope, and is recorded as one Automerge change
//!   carrying that actor, so [`Document::history`] can say who changed what.
//! - Derived state (an order's status, totals, "changed after approval") is a
//!   pure function of the document, so replicas that saw the same changes show
//!   the same thing however the changes interleaved.
//! - Money is exact ([`rust_decimal::Decimal`], stored as canonical strings).

mod access;
mod actor;
mod catalog;
mod codec;
mod complaint;
mod content;
mod customer;
mod document;
mod error;
mod ids;
mod kpi;
pub mod money;
mod order;
mod report;
pub mod rules;
pub mod signing;
pub mod store;
pub mod sync;
#[cfg(test)]
mod testing;
mod visit;
mod zone;

pub use access::{may_see, may_see_parts};
pub use actor::{Actor, ChangeCtx, OFFICE_DEVICE, Role};
pub use catalog::{Catalog, CatalogDoc, PriceList, Product, ProductInput, Stock, StockFigures};
pub use complaint::{
    Complaint, ComplaintAction, ComplaintDoc, ComplaintEvent, ComplaintStatus, NewComplaint,
};
pub use content::Content;
pub use customer::{
    Contact, Customer, CustomerDoc, CustomerStatus, Grade, NewCustomer, PaymentTerms,
};
pub use document::{DocKind, Document, FieldChange, Meta, SCHEMA_VERSION, View};
pub use error::{Error, ErrorKind, Result};
pub use ids::DocId;
pub use kpi::{
    MONTHLY_VISIT_TARGET, Month, ReportKpi, VisitFact, VisitKpi, report_kpis, visit_kpis,
    visit_kpis_from_facts,
};
pub use order::{
    Channel, CreditCheckpoint, CreditExposure, CreditFacts, CreditTerms, Delivery, DerivedState,
    LineEdit, MAX_SEQUENCE, NewLine, NewOrder, OpenOrder, Order, OrderAction, OrderDetails,
    OrderDoc, OrderEvent, OrderLine, OrderNumber, OrderPrefix, OrderStatus, Payment,
    ProductionInfo, ReorderKind, Requirements, Shipment, Step, counts_toward_exposure, decide_step,
    derive_state,
};
pub use report::{DailyReport, DailyReportDoc, ReportSchedule, Submission};
pub use visit::{
    FollowUp, FollowUpKind, GUIDELINE_MINUTES, GeoPoint, Outcome, Priority, Stamp, Visit, VisitDoc,
    VisitNote, VisitPlan, VisitStatus,
};
pub use zone::BusinessZone;

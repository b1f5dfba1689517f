//! `FieldSync`: the one object an app holds. It owns the local store; every
//! call is a thin mapping onto `fieldsync-core`, where the rules live.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Utc};
use fieldsync_core as core;
use fieldsync_core::store::{DeviceIdentity, DeviceStore};
use fieldsync_core::sync::SyncSession;
use fieldsync_core::{ChangeCtx, DocId, DocKind, Document, View};
use rust_decimal::Decimal;

use crate::error::{MobileError, invalid};
use crate::records::*;
use crate::transport::Transport;

/// Told how a sync is going; called from the syncing thread.
#[uniffi::export(with_foreign)]
pub trait SyncProgress: Send + Sync {
    /// After each round trip: how many so far, documents sent and received so far.
    fn on_progress(&self, round_trips: u32, sent: u32, received: u32);
}

/// Lets the app stop a sync from another thread.
#[derive(Debug, Default, uniffi::Object)]
pub struct SyncCancel {
    cancelled: AtomicBool,
}

#[uniffi::export]
impl SyncCancel {
    /// A fresh, not cancelled, token.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancel::default())
    }

    /// Stops the sync after the round trip in flight.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

/// The phone's fieldsync: local store, offline work, and sync.
#[derive(uniffi::Object)]
pub struct FieldSync {
    store: Mutex<DeviceStore>,
    path: PathBuf,
}

type R<T> = Result<T, MobileError>;

fn id(s: &str) -> R<DocId> {
    s.parse().map_err(|_| MobileError::NotFound {
        reason: format!("there is no document {s}"),
    })
}

fn amount(field: &'static str, s: &str) -> R<Decimal> {
    Ok(core::money::parse_amount(field, s)?)
}

fn day(s: &str) -> R<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| invalid(format!("'{s}' is not a day; write YYYY-MM-DD")))
}

fn instant(ms: i64) -> R<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| invalid(format!("{ms} is not a valid time")))
}

impl FieldSync {
    fn store(&self) -> MutexGuard<'_, DeviceStore> {
        // Every store write is one SQLite transaction, so a panic elsewhere
        // cannot leave it half-written: a poisoned lock is still usable.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ctx(store: &DeviceStore) -> R<ChangeCtx> {
        let identity = store.identity()?.ok_or_else(|| MobileError::NotEnrolled {
            reason:
                "this phone is not enrolled yet: enroll it with the code from your administrator"
                    .into(),
        })?;
        Ok(ChangeCtx::now(identity.actor()?))
    }

    /// Reads document `doc` as a `T`, from the store's open documents when
    /// it is there.
    fn read<T: View + Clone>(store: &mut DeviceStore, doc: &str) -> R<T> {
        match store.view::<T>(id(doc)?) {
            Ok(v) => Ok(v),
            Err(e @ core::Error::WrongKind { .. }) => Err(e.into()),
            Err(_) => Err(MobileError::NotFound {
                reason: format!("there is no document {doc} on this phone"),
            }),
        }
    }

    /// Opens document `doc` for an edit (see [`DeviceStore::open_document`]).
    fn open_doc<D: Edited>(store: &mut DeviceStore, doc: &str) -> R<D> {
        let d = store
            .open_document(id(doc)?)
            .map_err(|_| MobileError::NotFound {
                reason: format!("there is no document {doc} on this phone"),
            })?;
        Ok(D::wrap(d)?)
    }

    /// Opens a document, runs `edit` on it as this phone's user, saves it
    /// (one durable commit), answers with `answer`, and keeps it open for
    /// the next call. Only the edit's own changes are written.
    fn edit<D: Edited, E, A>(
        &self,
        doc: &str,
        edit: impl FnOnce(&mut D, &ChangeCtx) -> Result<E, core::Error>,
        answer: impl FnOnce(&D, E) -> R<A>,
    ) -> R<A> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let mut d = Self::open_doc::<D>(&mut store, doc)?;
        let done = edit(&mut d, &ctx)
            .map_err(MobileError::from)
            .and_then(|edited| {
                store.save(d.document())?;
                answer(&d, edited)
            });
        // Kept only if it is as stored: a failed edit left it unchanged (or
        // it is dropped and read again next time).
        store.keep(d.into_document())?;
        done
    }

    /// Loads an order, runs `edit` on it as this phone's user, saves it.
    fn with_order(
        &self,
        order: &str,
        edit: impl FnOnce(&mut core::OrderDoc, &ChangeCtx) -> Result<(), core::Error>,
    ) -> R<OrderInfo> {
        self.edit(order, edit, |o: &core::OrderDoc, ()| {
            Ok(OrderInfo::from(o.read_ref()?))
        })
    }

    /// Edits one line of an order (`edit` gives the line's id): the answer
    /// is that line and the order's figures, built from the order kept in
    /// memory, so it costs the same on an order of 300 lines as of 3.
    fn with_line(
        &self,
        order: &str,
        edit: impl FnOnce(&mut core::OrderDoc, &ChangeCtx) -> Result<String, core::Error>,
    ) -> R<LineEdited> {
        self.edit(order, edit, |o: &core::OrderDoc, line| {
            Ok(LineEdited::of(o.read_ref()?, &line))
        })
    }

    /// Loads a complaint, runs `edit` on it as this phone's user, saves it.
    fn with_complaint(
        &self,
        complaint: &str,
        edit: impl FnOnce(&mut core::ComplaintDoc, &ChangeCtx) -> Result<(), core::Error>,
    ) -> R<ComplaintInfo> {
        self.edit(complaint, edit, |c: &core::ComplaintDoc, ()| {
            Ok(ComplaintInfo::from(&c.read()?))
        })
    }

    fn with_visit(
        &self,
        visit: &str,
        edit: impl FnOnce(&mut core::VisitDoc, &ChangeCtx) -> Result<(), core::Error>,
    ) -> R<VisitInfo> {
        self.edit(visit, edit, |v: &core::VisitDoc, ()| {
            Ok(VisitInfo::from(&v.read()?))
        })
    }
}

/// A typed document the phone edits (an order, a visit...).
trait Edited: Sized {
    fn wrap(doc: Document) -> Result<Self, core::Error>;
    fn document(&mut self) -> &mut Document;
    fn into_document(self) -> Document;
}

macro_rules! edited {
    ($($t:ty),*) => {$(
        impl Edited for $t {
            fn wrap(doc: Document) -> Result<Self, core::Error> {
                <$t>::from_document(doc)
            }
            fn document(&mut self) -> &mut Document {
                <$t>::document(self)
            }
            fn into_document(self) -> Document {
                <$t>::into_document(self)
            }
        }
    )*};
}

edited!(
    core::OrderDoc,
    core::VisitDoc,
    core::ComplaintDoc,
    core::DailyReportDoc
);

#[uniffi::export]
impl FieldSync {
    /// Opens the phone's store at `path`, creating it if needed.
    #[uniffi::constructor]
    pub fn open(path: String) -> R<Arc<Self>> {
        let p = PathBuf::from(&path);
        let store = DeviceStore::open(&p).map_err(|e| MobileError::Storage {
            reason: format!("{e}. If the file is damaged, delete it and enroll again: everything synced is on the relay"),
        })?;
        Ok(Arc::new(FieldSync {
            store: Mutex::new(store),
            path: p,
        }))
    }

    /// Enrolls this phone with the relay at `relay_url` using a one-time code.
    pub fn enroll(&self, relay_url: String, code: String) -> R<DeviceInfo> {
        let t = Transport::new(&relay_url)?;
        // The phone's signing key is made here and never leaves it; the relay
        // keeps the public half to check every change this phone sends.
        let public_key = self.store().device_key()?;
        let e = t.enroll(&code, &public_key.to_hex())?;
        let field = |k: &str| {
            e[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| MobileError::Network {
                    reason: format!("the relay's enrollment answer lacks {k}"),
                })
        };
        let identity = DeviceIdentity {
            device_id: field("device_id")?,
            user: field("user")?,
            role: field("role")?.parse()?,
            region: e["region"].as_str().map(str::to_string),
            order_prefix: core::OrderPrefix::new(&field("order_prefix")?)?,
            // A relay from before zones were sent: the default.
            time_zone: match e["time_zone"].as_str() {
                Some(z) => core::BusinessZone::parse(z)?,
                None => core::BusinessZone::default(),
            },
        };
        let mut store = self.store();
        store.set_identity(&identity)?;
        store.set_relay(
            relay_url.trim().trim_end_matches('/'),
            &field("device_token")?,
        )?;
        drop(store);
        self.device().ok_or_else(|| MobileError::Storage {
            reason: "the enrollment was not saved".into(),
        })
    }

    /// This phone's enrollment, if enrolled.
    pub fn device(&self) -> Option<DeviceInfo> {
        let store = self.store();
        let identity = store.identity().ok()??;
        let (url, _) = store.relay().ok()??;
        Some(DeviceInfo {
            device_id: identity.device_id,
            user: identity.user,
            role: identity.role.as_str().to_string(),
            region: identity.region,
            order_prefix: identity.order_prefix.as_str().to_string(),
            relay_url: url,
        })
    }

    /// The store's file.
    pub fn path(&self) -> String {
        self.path.display().to_string()
    }

    // ---- customers and catalog ----

    /// Customers on this phone, as of the last sync.
    pub fn customers(&self) -> R<Vec<CustomerInfo>> {
        let store = self.store();
        let orders = store.credit_orders()?;
        store
            .list_kind(DocKind::Customer)?
            .into_iter()
            .map(|e| {
                let c = store.load(e.id)?.view::<core::Customer>()?;
                Ok(CustomerInfo::new(
                    &c,
                    &core::CreditExposure::new(&c, &orders, None),
                ))
            })
            .collect()
    }

    /// One customer.
    pub fn customer(&self, customer_id: String) -> R<CustomerInfo> {
        let mut store = self.store();
        let c: core::Customer = Self::read(&mut store, &customer_id)?;
        let orders = store.credit_orders()?;
        Ok(CustomerInfo::new(
            &c,
            &core::CreditExposure::new(&c, &orders, None),
        ))
    }

    /// Records a prospect found in the field.
    pub fn create_prospect(&self, name: String, address: String) -> R<CustomerInfo> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let mut doc = core::CustomerDoc::create_prospect(&ctx, &name, &address)?;
        store.save(doc.document())?;
        let c = doc.read()?;
        store.keep(doc.into_document())?;
        Ok(CustomerInfo::new(
            &c,
            &core::CreditExposure::new(&c, [], None),
        ))
    }

    /// The catalog with stock as of the last sync.
    pub fn catalog(&self) -> R<Vec<ProductInfo>> {
        let store = self.store();
        let Some(entry) = store.list_kind(DocKind::Catalog)?.into_iter().next() else {
            return Ok(Vec::new());
        };
        let cat: core::Catalog = store.load(entry.id)?.view()?;
        let s = |d: Decimal| d.normalize().to_string();
        Ok(cat
            .products
            .values()
            .filter(|p| p.active)
            .map(|p| ProductInfo {
                code: p.code.clone(),
                name: p.name.clone(),
                spec: p.spec.clone(),
                category: p.category.clone(),
                unit: p.unit.clone(),
                list_price: core::money::cents(p.list_price).to_string(),
                on_hand: s(p.stock.on_hand),
                in_production: s(p.stock.in_production),
                reserved: s(p.stock.reserved),
                available: s(p.stock.available()),
                stock_as_of_ms: p.stock.as_of.map(|t| t.timestamp_millis()),
            })
            .collect())
    }

    // ---- visits ----

    /// Plans a visit.
    pub fn plan_visit(
        &self,
        customer_id: String,
        planned_start_ms: i64,
        purpose: String,
        key_customer: bool,
        materials: String,
    ) -> R<VisitInfo> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let c: core::Customer = Self::read(&mut store, &customer_id)?;
        let plan = core::VisitPlan {
            planned_start: instant(planned_start_ms)?,
            purpose,
            priority: if key_customer {
                core::Priority::KeyCustomer
            } else {
                core::Priority::Normal
            },
            materials,
        };
        let mut v = core::VisitDoc::plan(&ctx, &c, plan)?;
        store.save(v.document())?;
        let info = VisitInfo::from(&v.read()?);
        store.keep(v.into_document())?;
        Ok(info)
    }

    /// One visit.
    pub fn visit(&self, visit_id: String) -> R<VisitInfo> {
        let mut store = self.store();
        Ok(VisitInfo::from(&Self::read::<core::Visit>(
            &mut store, &visit_id,
        )?))
    }

    /// Checks in, with the GPS position if the phone has one.
    pub fn check_in(&self, visit_id: String, position: Option<GeoPosition>) -> R<VisitInfo> {
        self.with_visit(&visit_id, |v, ctx| {
            v.check_in(
                ctx,
                position.map(|p| core::GeoPoint {
                    latitude: p.latitude,
                    longitude: p.longitude,
                }),
            )
        })
    }

    /// Checks out (adds the next day's thank-you call).
    pub fn check_out(&self, visit_id: String, position: Option<GeoPosition>) -> R<VisitInfo> {
        self.with_visit(&visit_id, |v, ctx| {
            v.check_out(
                ctx,
                position.map(|p| core::GeoPoint {
                    latitude: p.latitude,
                    longitude: p.longitude,
                }),
            )
        })
    }

    /// Adds a note.
    pub fn add_visit_note(&self, visit_id: String, text: String) -> R<VisitInfo> {
        self.with_visit(&visit_id, |v, ctx| v.add_note(ctx, &text).map(drop))
    }

    /// Records who was met, what was discussed and what came of it.
    pub fn log_visit(
        &self,
        visit_id: String,
        contact: String,
        topics: String,
        intent: String,
        feedback: String,
        next_appointment_ms: Option<i64>,
    ) -> R<VisitInfo> {
        let next = next_appointment_ms.map(instant).transpose()?;
        self.with_visit(&visit_id, |v, ctx| {
            v.set_conversation(ctx, &contact, &topics)?;
            v.set_outcome(ctx, &intent, &feedback, next)
        })
    }

    /// Records a complaint (on a visit, if given); returns its id.
    pub fn record_complaint(
        &self,
        customer_id: String,
        visit_id: Option<String>,
        subject: String,
        description: String,
        apologised: bool,
    ) -> R<String> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let c: core::Customer = Self::read(&mut store, &customer_id)?;
        let visit = visit_id.as_deref().map(id).transpose()?;
        let mut complaint = core::ComplaintDoc::record(
            &ctx,
            &c,
            core::NewComplaint {
                subject,
                description,
                visit,
                order: None,
                apologised,
            },
        )?;
        let cid = complaint.read()?.id();
        store.save(complaint.document())?;
        if let Some(v) = visit {
            let mut vd: core::VisitDoc = Self::open_doc(&mut store, &v.to_string())?;
            vd.link_complaint(&ctx, cid)?;
            store.save(vd.document())?;
            store.keep(vd.into_document())?;
        }
        Ok(cid.to_string())
    }

    /// Calls a planned visit off, with the reason.
    pub fn cancel_visit(&self, visit_id: String, reason: String) -> R<VisitInfo> {
        self.with_visit(&visit_id, |v, ctx| v.cancel(ctx, &reason))
    }

    /// Adds a follow-up to a visit, due at `due_ms` (epoch milliseconds).
    pub fn add_follow_up(&self, visit_id: String, text: String, due_ms: i64) -> R<VisitInfo> {
        let due = instant(due_ms)?;
        self.with_visit(&visit_id, |v, ctx| {
            v.add_follow_up(ctx, &text, due).map(drop)
        })
    }

    /// Marks a visit's follow-up done.
    pub fn complete_follow_up(&self, visit_id: String, follow_up_id: String) -> R<VisitInfo> {
        self.with_visit(&visit_id, |v, ctx| v.complete_follow_up(ctx, &follow_up_id))
    }

    /// One complaint: where it stands and head office's resolution.
    pub fn complaint(&self, complaint_id: String) -> R<ComplaintInfo> {
        let mut store = self.store();
        Ok(ComplaintInfo::from(&Self::read::<core::Complaint>(
            &mut store,
            &complaint_id,
        )?))
    }

    /// Records that the customer was told how their complaint was resolved
    /// (closes it).
    pub fn report_back_complaint(&self, complaint_id: String, note: String) -> R<ComplaintInfo> {
        self.with_complaint(&complaint_id, |c, ctx| c.report_back(ctx, &note))
    }

    /// Opens a resolved or closed complaint again, with the reason.
    pub fn reopen_complaint(&self, complaint_id: String, reason: String) -> R<ComplaintInfo> {
        self.with_complaint(&complaint_id, |c, ctx| c.reopen(ctx, &reason))
    }

    // ---- history ----

    /// Every change to every field of a document on this phone (an order, a
    /// customer, a visit…), oldest first: who, in which role, on which
    /// device, when, the value before and after.
    pub fn field_history(&self, doc_id: String) -> R<Vec<FieldChangeRecord>> {
        let store = self.store();
        let mut doc = store
            .load(id(&doc_id)?)
            .map_err(|_| MobileError::NotFound {
                reason: format!("there is no document {doc_id} on this phone"),
            })?;
        Ok(doc
            .history()
            .into_iter()
            .map(FieldChangeRecord::from)
            .collect())
    }

    // ---- orders ----

    /// Starts an order for a customer, numbered on this phone.
    pub fn create_order(
        &self,
        customer_id: String,
        channel: OrderChannel,
        delivery_date: Option<String>,
    ) -> R<OrderInfo> {
        self.create_order_with_lines(customer_id, channel, delivery_date, Vec::new())
    }

    /// One order.
    pub fn order(&self, order_id: String) -> R<OrderInfo> {
        let mut store = self.store();
        Ok(OrderInfo::from(&Self::read::<core::Order>(
            &mut store, &order_id,
        )?))
    }

    /// Adds a line; answers with it and the order's new total.
    pub fn add_order_line(&self, order_id: String, line: LineInput) -> R<LineEdited> {
        let new = new_line(line)?;
        self.with_line(&order_id, |o, ctx| o.add_line(ctx, new))
    }

    /// Creates a draft order with all its lines in one edit (one change, one
    /// write): an order entered whole, such as an order fair's hundreds of
    /// lines, instead of one call per line.
    pub fn create_order_with_lines(
        &self,
        customer_id: String,
        channel: OrderChannel,
        delivery_date: Option<String>,
        lines: Vec<LineInput>,
    ) -> R<OrderInfo> {
        let lines = lines.into_iter().map(new_line).collect::<R<Vec<_>>>()?;
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let c: core::Customer = Self::read(&mut store, &customer_id)?;
        let today = store.business_date(ctx.at)?;
        let (channel, reorder_kind) = channel.to_core();
        let delivery_date = delivery_date.as_deref().map(day).transpose()?;
        // The number is minted in the order's own commit: one durable write.
        let doc = store.save_numbered(today, |number| {
            let new = core::NewOrder {
                number,
                channel,
                reorder_kind,
                delivery_date,
                evidence: String::new(),
            };
            Ok(core::OrderDoc::create_with_lines(&ctx, &c, new, &lines)?.into_document())
        })?;
        let info = OrderInfo::from(doc.view_ref::<core::Order>()?);
        store.keep(doc)?;
        Ok(info)
    }

    /// Makes several line edits as one (one change, one durable write):
    /// e.g. the quantities of every size of a style typed in one go. All or
    /// nothing: if one edit is refused, none is made.
    pub fn edit_order_lines(&self, order_id: String, edits: Vec<OrderLineEdit>) -> R<OrderInfo> {
        let edits = edits.into_iter().map(line_edit).collect::<R<Vec<_>>>()?;
        self.with_order(&order_id, |o, ctx| o.edit_lines(ctx, edits).map(drop))
    }

    /// Changes a line's quantity.
    pub fn set_line_quantity(
        &self,
        order_id: String,
        line_id: String,
        quantity: String,
    ) -> R<LineEdited> {
        let q = amount("quantity", &quantity)?;
        self.with_line(&order_id, |o, ctx| {
            o.set_quantity(ctx, &line_id, q)?;
            Ok(line_id)
        })
    }

    /// Changes a line's unit price.
    pub fn set_line_price(
        &self,
        order_id: String,
        line_id: String,
        unit_price: String,
    ) -> R<LineEdited> {
        let p = amount("unit price", &unit_price)?;
        self.with_line(&order_id, |o, ctx| {
            o.set_unit_price(ctx, &line_id, p)?;
            Ok(line_id)
        })
    }

    /// Changes a line's discount (percent).
    pub fn set_line_discount(
        &self,
        order_id: String,
        line_id: String,
        discount_percent: String,
    ) -> R<LineEdited> {
        let d = amount("discount", &discount_percent)?;
        self.with_line(&order_id, |o, ctx| {
            o.set_discount(ctx, &line_id, d)?;
            Ok(line_id)
        })
    }

    /// Removes a line (the answer has no line).
    pub fn remove_order_line(&self, order_id: String, line_id: String) -> R<LineEdited> {
        self.with_line(&order_id, |o, ctx| {
            o.remove_line(ctx, &line_id)?;
            Ok(line_id)
        })
    }

    /// Splits the lines `line_ids` off into a new order (numbered on this
    /// phone), e.g. to ship what is in stock now; returns the new order.
    pub fn split_order(&self, order_id: String, line_ids: Vec<String>) -> R<OrderInfo> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let mut o: core::OrderDoc = Self::open_doc(&mut store, &order_id)?;
        let today = store.business_date(ctx.at)?;
        let number = store.next_order_number(today)?;
        let mut split = o.split(&ctx, &line_ids, number)?;
        store.save(o.document())?;
        store.save(split.document())?;
        let info = OrderInfo::from(&split.read()?);
        store.keep(o.into_document())?;
        store.keep(split.into_document())?;
        Ok(info)
    }

    /// Merges order `from_id` into `into_id` (same customer, neither handed
    /// on yet): its lines move over and it is closed as merged.
    pub fn merge_orders(&self, into_id: String, from_id: String) -> R<OrderInfo> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let mut into: core::OrderDoc = Self::open_doc(&mut store, &into_id)?;
        let mut from: core::OrderDoc = Self::open_doc(&mut store, &from_id)?;
        into.merge_from(&ctx, &mut from)?;
        store.save(into.document())?;
        store.save(from.document())?;
        let info = OrderInfo::from(&into.read()?);
        store.keep(into.into_document())?;
        store.keep(from.into_document())?;
        Ok(info)
    }

    /// Sets the order's details (all of them, as the form shows them).
    pub fn set_order_details(&self, order_id: String, details: OrderDetailsRecord) -> R<OrderInfo> {
        let deposit = if details.deposit.trim().is_empty() {
            Decimal::ZERO
        } else {
            amount("deposit", &details.deposit)?
        };
        let d = core::OrderDetails {
            delivery: core::Delivery {
                address: details.delivery_address,
                consignee: details.consignee,
                phone: details.consignee_phone,
                transport: details.transport,
            },
            requirements: core::Requirements {
                packing: details.packing,
                transport: details.transport_requirements,
                after_sales: details.after_sales,
            },
            evidence: details.evidence,
            deposit,
            customer_reference: details.customer_reference,
            notes: details.notes,
        };
        self.with_order(&order_id, |o, ctx| o.set_details(ctx, d))
    }

    /// Hands the order in (takes effect at the next sync); it needs its
    /// written evidence first (see [`OrderDetailsRecord`]).
    pub fn submit_order(&self, order_id: String) -> R<OrderInfo> {
        self.with_order(&order_id, |o, ctx| o.submit(ctx))
    }

    /// Cancels the order, with a reason.
    pub fn cancel_order(&self, order_id: String, reason: String) -> R<OrderInfo> {
        self.with_order(&order_id, |o, ctx| o.cancel(ctx, &reason))
    }

    /// Approves the order (for managers using the app).
    pub fn approve_order(
        &self,
        order_id: String,
        credit_override_reason: Option<String>,
    ) -> R<OrderInfo> {
        let mut store = self.store();
        let o: core::Order = Self::read(&mut store, &order_id)?;
        let customer: core::Customer = store.view(o.customer)?;
        let orders = store.credit_orders()?;
        drop(store);
        self.with_order(&order_id, |o, ctx| {
            o.approve(
                ctx,
                (&customer, &orders[..]),
                credit_override_reason.as_deref(),
            )
        })
    }

    // ---- daily report ----

    /// Writes (or rewrites) the daily visit report for `date` (YYYY-MM-DD); returns its id.
    pub fn write_daily_report(
        &self,
        date: String,
        summary: String,
        problems: String,
        plan_tomorrow: String,
    ) -> R<String> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let date = day(&date)?;
        let existing = store
            .list_kind(DocKind::DailyReport)?
            .into_iter()
            .filter(|e| e.owner == ctx.actor.user())
            .find_map(|e| {
                let d = store.load(e.id).ok()?;
                (d.view::<core::DailyReport>().ok()?.date == date).then_some(d)
            });
        let mut r = match existing {
            Some(d) => core::DailyReportDoc::from_document(d)?,
            None => core::DailyReportDoc::create(&ctx, date)?,
        };
        r.write(&ctx, &summary, &problems, &plan_tomorrow)?;
        store.save(r.document())?;
        let id = r.read()?.id().to_string();
        store.keep(r.into_document())?;
        Ok(id)
    }

    /// Submits a daily report; after this it cannot change.
    pub fn submit_daily_report(&self, report_id: String) -> R<()> {
        let mut store = self.store();
        let ctx = Self::ctx(&store)?;
        let mut r: core::DailyReportDoc = Self::open_doc(&mut store, &report_id)?;
        r.submit(&ctx)?;
        store.save(r.document())?;
        store.keep(r.into_document())?;
        Ok(())
    }

    // ---- lists ----

    /// Visits planned for the day containing `now_ms`, in the phone's time zone
    /// (`utc_offset_minutes`, e.g. 480 for UTC+8).
    pub fn todays_visits(&self, now_ms: i64, utc_offset_minutes: i32) -> R<Vec<ListItem>> {
        let offset = FixedOffset::east_opt(utc_offset_minutes * 60)
            .ok_or_else(|| invalid("the UTC offset is out of range"))?;
        let local_day = instant(now_ms)?.with_timezone(&offset).date_naive();
        let start = local_day
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_local_timezone(offset)
            .single()
            .ok_or_else(|| invalid("no such local time"))?
            .with_timezone(&Utc);
        let end = start + Days::new(1);
        Ok(self
            .store()
            .visits_between(start, end)?
            .into_iter()
            .map(ListItem::from)
            .collect())
    }

    /// Orders not settled, archived or cancelled.
    pub fn open_orders(&self) -> R<Vec<ListItem>> {
        Ok(self
            .store()
            .open_orders()?
            .into_iter()
            .map(ListItem::from)
            .collect())
    }

    /// Orders waiting for a manager.
    pub fn orders_awaiting_review(&self) -> R<Vec<ListItem>> {
        Ok(self
            .store()
            .orders_awaiting_review()?
            .into_iter()
            .map(ListItem::from)
            .collect())
    }

    /// Documents with changes not yet on the relay.
    pub fn pending_upload(&self) -> R<Vec<ListItem>> {
        Ok(self
            .store()
            .pending_upload()?
            .into_iter()
            .map(ListItem::from)
            .collect())
    }

    /// How many documents have changes not yet on the relay.
    pub fn pending_count(&self) -> R<u64> {
        Ok(self.store().pending_count()?)
    }

    /// Documents the relay refused, with its reasons.
    pub fn refused(&self) -> R<Vec<RefusedItem>> {
        Ok(self
            .store()
            .refused()?
            .into_iter()
            .map(|r| RefusedItem {
                item: r.entry.into(),
                reason: r.reason,
            })
            .collect())
    }

    /// Throws away the refused changes: back to what the relay has.
    pub fn discard_refused(&self, document_id: String) -> R<()> {
        Ok(self.store().discard_refused(id(&document_id)?)?)
    }

    /// Sends a fixed document again at the next sync.
    pub fn resubmit(&self, document_id: String) -> R<()> {
        Ok(self.store().resubmit(id(&document_id)?)?)
    }

    // ---- sync ----

    /// Syncs the whole phone with the relay. Blocking: call it from a
    /// background thread. A network failure leaves everything in place for the
    /// next try.
    pub fn sync(
        &self,
        progress: Option<Arc<dyn SyncProgress>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> R<SyncReport> {
        let (url, token) = self.store().relay()?.ok_or_else(|| MobileError::NotEnrolled {
            reason: "this phone is not enrolled yet: enroll it with the code from your administrator".into(),
        })?;
        let transport = Transport::new(&url)?;
        // A phone enrolled before changes were signed makes its key now
        // (signing what it did before) and registers it with the relay.
        if !self.store().has_device_key()? {
            let public_key = self.store().device_key()?;
            transport.register_key(&token, &public_key.to_hex())?;
        }
        let mut session = SyncSession::new();
        loop {
            if cancel
                .as_ref()
                .is_some_and(|c| c.cancelled.load(Ordering::SeqCst))
            {
                return Err(MobileError::Cancelled {
                    reason: "the sync was cancelled; the rest is sent next time".into(),
                });
            }
            // The store is locked per step, not across the network round trip,
            // so the app keeps working while a sync runs.
            let Some(request) = session.next_request(&mut self.store())? else {
                break;
            };
            let response = transport.sync(&token, &request)?;
            session.receive(&mut self.store(), &response)?;
            let s = session.summary();
            if let Some(p) = &progress {
                p.on_progress(s.round_trips, s.sent as u32, s.received as u32);
            }
        }
        let s = session.summary().clone();
        let store = self.store();
        // Read the refusal list once, not once per refused document.
        let listed = store.refused().unwrap_or_default();
        let refused = s
            .refused
            .iter()
            .map(|(doc, reason)| {
                let item = listed
                    .iter()
                    .find(|r| r.entry.id == *doc)
                    .cloned()
                    .map(|r| ListItem::from(r.entry))
                    .unwrap_or(ListItem {
                        id: doc.to_string(),
                        kind: String::new(),
                        title: String::new(),
                        status: String::new(),
                        number: None,
                        total: None,
                        at_ms: 0,
                    });
                RefusedItem {
                    item,
                    reason: reason.clone(),
                }
            })
            .collect();
        Ok(SyncReport {
            sent: s.sent as u32,
            received: s.received as u32,
            departed: s.departed as u32,
            refused,
            round_trips: s.round_trips,
            bytes_up: s.bytes_up as u64,
            bytes_down: s.bytes_down as u64,
        })
    }
}

/// A line edit as the app gives it, with its numbers parsed.
fn line_edit(edit: OrderLineEdit) -> R<core::LineEdit> {
    Ok(match edit {
        OrderLineEdit::Add { line } => core::LineEdit::Add(new_line(line)?),
        OrderLineEdit::SetQuantity { line_id, quantity } => core::LineEdit::SetQuantity {
            line: line_id,
            quantity: amount("quantity", &quantity)?,
        },
        OrderLineEdit::SetUnitPrice {
            line_id,
            unit_price,
        } => core::LineEdit::SetUnitPrice {
            line: line_id,
            unit_price: amount("unit price", &unit_price)?,
        },
        OrderLineEdit::SetDiscount {
            line_id,
            discount_percent,
        } => core::LineEdit::SetDiscount {
            line: line_id,
            percent: discount(&discount_percent)?,
        },
        OrderLineEdit::SetVariant { line_id, variant } => core::LineEdit::SetVariant {
            line: line_id,
            variant,
        },
        OrderLineEdit::Remove { line_id } => core::LineEdit::Remove { line: line_id },
    })
}

/// A discount as typed: empty is none.
fn discount(text: &str) -> R<Decimal> {
    if text.trim().is_empty() {
        Ok(Decimal::ZERO)
    } else {
        amount("discount", text)
    }
}

/// A line as the app gives it, checked: decimals parsed, an empty discount
/// taken as none.
fn new_line(line: LineInput) -> R<core::NewLine> {
    Ok(core::NewLine {
        product: line.product,
        name: line.name,
        variant: line.variant,
        unit: line.unit,
        quantity: amount("quantity", &line.quantity)?,
        unit_price: amount("unit price", &line.unit_price)?,
        discount_percent: discount(&line.discount_percent)?,
    })
}

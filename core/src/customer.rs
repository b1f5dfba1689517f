//! Customers and prospects (DOMAIN.md, "Customers").

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::access::{require_role, require_scope, require_text};
use crate::actor::{ChangeCtx, Role};
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::{DocId, new_item_id};
use crate::money::check_non_negative;

/// Customer grade: with equal conditions, A customers ship first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Reconcile, Hydrate)]
pub enum Grade {
    /// Most important.
    A,
    /// Normal.
    B,
    /// Small or new.
    #[default]
    C,
}

/// Whether the customer already buys from us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Reconcile, Hydrate)]
pub enum CustomerStatus {
    /// Found in the field, not yet approved as a customer.
    Prospect,
    /// An approved, buying customer.
    Active,
}

/// How the customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Reconcile, Hydrate)]
pub enum PaymentTerms {
    /// Pays before goods ship.
    #[default]
    Cash,
    /// Buys on credit within a limit, paying within `credit_days`.
    Credit,
}

/// A person to talk to at the customer.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Contact {
    /// Name.
    pub name: String,
    /// Phone number.
    pub phone: String,
    /// Job title or role at the customer.
    pub title: String,
}

/// A customer as read from its document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Customer {
    /// Header: id, owner salesperson, region.
    pub meta: Meta,
    /// Head office's customer code, the business key imports match on;
    /// empty for a prospect until head office gives it one.
    #[autosurgeon(missing = "Default::default")]
    pub code: String,
    /// Company or shop name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// The shop's own phone number.
    #[autosurgeon(missing = "Default::default")]
    pub phone: String,
    /// Tax registration number (for invoices).
    #[autosurgeon(missing = "Default::default")]
    pub tax_number: String,
    /// Contacts, keyed by a stable id.
    pub contacts: BTreeMap<String, Contact>,
    /// Grade A/B/C.
    pub grade: Grade,
    /// Prospect or active.
    pub status: CustomerStatus,
    /// Cash or credit.
    pub payment_terms: PaymentTerms,
    /// Days to pay, for credit customers.
    pub credit_days: u64,
    /// The most the customer may owe us (应收款额度).
    #[autosurgeon(with = "crate::codec::decimal")]
    pub credit_limit: Decimal,
    /// What the customer owes us now, as finance last published it.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub receivables: Decimal,
    /// When finance last published the receivables.
    #[autosurgeon(with = "crate::codec::opt_time")]
    pub receivables_as_of: Option<DateTime<Utc>>,
}

impl Customer {
    /// The document id.
    pub fn id(&self) -> DocId {
        self.meta.id
    }
}

/// What is needed to create a customer, and what head office's master
/// data says of one ([`CustomerDoc::apply_master_data`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewCustomer {
    /// Customer code (head office's business key; may be empty).
    pub code: String,
    /// Company or shop name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Region; for a salesperson's prospect, their own region is used.
    pub region: String,
    /// Owner salesperson; for a salesperson's prospect, themself.
    pub owner: String,
    /// Grade.
    pub grade: Grade,
    /// Payment terms.
    pub payment_terms: PaymentTerms,
    /// Credit limit.
    pub credit_limit: Decimal,
    /// The shop's phone number.
    pub phone: String,
    /// Tax registration number.
    pub tax_number: String,
    /// A contact person, if the master data names one.
    pub contact: Option<Contact>,
}

/// A customer document with the edits each role makes.
#[derive(Debug)]
pub struct CustomerDoc {
    doc: Document,
}

impl CustomerDoc {
    /// A salesperson creates a prospect in the field, offline: owned by them,
    /// in their region, grade C, cash terms, no credit.
    pub fn create_prospect(ctx: &ChangeCtx, name: &str, address: &str) -> Result<Self> {
        require_role(&ctx.actor, &[Role::Salesperson], "create prospects")?;
        let region = ctx
            .actor
            .region()
            .ok_or(Error::Required("the salesperson's region"))?;
        Self::create_unchecked(
            ctx,
            NewCustomer {
                name: name.to_string(),
                address: address.to_string(),
                region: region.to_string(),
                owner: ctx.actor.user().to_string(),
                grade: Grade::C,
                ..NewCustomer::default()
            },
            CustomerStatus::Prospect,
        )
    }

    /// Head office (admin or a manager in the region) creates an active customer.
    pub fn create(ctx: &ChangeCtx, new: NewCustomer) -> Result<Self> {
        require_role(
            &ctx.actor,
            &[Role::Admin, Role::Manager],
            "create customers",
        )?;
        if ctx.actor.role() == Role::Manager && ctx.actor.region() != Some(new.region.as_str()) {
            return Err(Error::OutsideRegion {
                what: format!("customer {}", new.name),
                region: new.region,
                actor_region: ctx.actor.region().unwrap_or("").to_string(),
            });
        }
        Self::create_unchecked(ctx, new, CustomerStatus::Active)
    }

    fn create_unchecked(ctx: &ChangeCtx, new: NewCustomer, status: CustomerStatus) -> Result<Self> {
        let meta = Meta::new(
            ctx,
            DocKind::Customer,
            &require_text(&new.owner, "owner")?,
            Some(&require_text(&new.region, "region")?),
        );
        let mut contacts = BTreeMap::new();
        if let Some(c) = new.contact {
            require_text(&c.name, "contact name")?;
            contacts.insert(new_item_id(), c);
        }
        let customer = Customer {
            meta: meta.clone(),
            code: new.code.trim().to_string(),
            name: require_text(&new.name, "customer name")?,
            address: new.address.trim().to_string(),
            phone: new.phone.trim().to_string(),
            tax_number: new.tax_number.trim().to_string(),
            contacts,
            grade: new.grade,
            status,
            payment_terms: new.payment_terms,
            credit_days: if new.payment_terms == PaymentTerms::Credit {
                30
            } else {
                0
            },
            credit_limit: check_non_negative("credit limit", new.credit_limit)?,
            receivables: Decimal::ZERO,
            receivables_as_of: None,
        };
        Ok(CustomerDoc {
            doc: Document::create(ctx, meta, &customer)?,
        })
    }

    /// Loads a customer document.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(CustomerDoc {
            doc: Document::load_kind(bytes, DocKind::Customer)?,
        })
    }

    /// Wraps a document already loaded, checking its kind.
    pub fn from_document(doc: Document) -> Result<Self> {
        doc.expect_kind(DocKind::Customer)?;
        Ok(CustomerDoc { doc })
    }

    /// The underlying document (for storage and sync).
    pub fn document(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// The underlying document, given up (e.g. back to the store's open
    /// documents).
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Reads the customer.
    pub fn read(&self) -> Result<Customer> {
        self.doc.view()
    }

    fn editable(&self, ctx: &ChangeCtx, roles: &[Role], action: &'static str) -> Result<Customer> {
        require_role(&ctx.actor, roles, action)?;
        let c = self.read()?;
        require_scope(&ctx.actor, &c.meta, || format!("customer {}", c.name))?;
        Ok(c)
    }

    /// Updates name and address (owner salesperson, their manager, order desk, admin).
    pub fn set_name_and_address(
        &mut self,
        ctx: &ChangeCtx,
        name: &str,
        address: &str,
    ) -> Result<()> {
        let mut c = self.editable(ctx, DETAIL_EDITORS, "edit customer details")?;
        c.name = require_text(name, "customer name")?;
        c.address = address.trim().to_string();
        self.doc.update(ctx, &c)
    }

    /// Adds a contact person; returns the contact's id.
    pub fn add_contact(&mut self, ctx: &ChangeCtx, contact: Contact) -> Result<String> {
        let mut c = self.editable(ctx, DETAIL_EDITORS, "edit customer contacts")?;
        require_text(&contact.name, "contact name")?;
        let id = new_item_id();
        c.contacts.insert(id.clone(), contact);
        self.doc.update(ctx, &c)?;
        Ok(id)
    }

    /// Sets the grade (manager of the region, admin).
    pub fn set_grade(&mut self, ctx: &ChangeCtx, grade: Grade) -> Result<()> {
        let mut c = self.editable(ctx, &[Role::Manager, Role::Admin], "change customer grades")?;
        c.grade = grade;
        self.doc.update(ctx, &c)
    }

    /// Turns a prospect into an active customer (manager of the region, admin).
    pub fn activate(&mut self, ctx: &ChangeCtx) -> Result<()> {
        let mut c = self.editable(ctx, &[Role::Manager, Role::Admin], "activate customers")?;
        c.status = CustomerStatus::Active;
        self.doc.update(ctx, &c)
    }

    /// Sets payment terms and credit limit (finance, admin).
    pub fn set_credit(
        &mut self,
        ctx: &ChangeCtx,
        terms: PaymentTerms,
        credit_days: u64,
        credit_limit: Decimal,
    ) -> Result<()> {
        let mut c = self.editable(ctx, &[Role::Finance, Role::Admin], "change credit limits")?;
        c.credit_limit = check_non_negative("credit limit", credit_limit)?;
        c.payment_terms = terms;
        c.credit_days = credit_days;
        self.doc.update(ctx, &c)
    }

    /// Publishes what the customer owes now (finance).
    pub fn set_receivables(&mut self, ctx: &ChangeCtx, receivables: Decimal) -> Result<()> {
        let mut c = self.editable(ctx, &[Role::Finance], "publish receivables")?;
        c.receivables = crate::money::check_amount("receivables", receivables)?;
        c.receivables_as_of = Some(ctx.at);
        self.doc.update(ctx, &c)
    }

    /// Brings the customer in line with head office's master data (admin,
    /// as an import does): code, name, address, phone, tax number, grade,
    /// payment terms, credit limit, salesperson and region, and the named
    /// contact (matched by name, added if new). Returns whether anything
    /// changed; nothing is recorded when nothing did.
    pub fn apply_master_data(&mut self, ctx: &ChangeCtx, new: &NewCustomer) -> Result<bool> {
        let mut c = self.editable(ctx, &[Role::Admin], "import customers")?;
        let before = c.clone();
        c.code = new.code.trim().to_string();
        c.name = require_text(&new.name, "customer name")?;
        c.address = new.address.trim().to_string();
        c.phone = new.phone.trim().to_string();
        c.tax_number = new.tax_number.trim().to_string();
        c.grade = new.grade;
        if c.payment_terms != new.payment_terms {
            c.credit_days = match new.payment_terms {
                PaymentTerms::Credit => 30,
                PaymentTerms::Cash => 0,
            };
        }
        c.payment_terms = new.payment_terms;
        c.credit_limit = check_non_negative("credit limit", new.credit_limit)?;
        c.meta.owner = require_text(&new.owner, "owner")?;
        c.meta.region = Some(require_text(&new.region, "region")?);
        if let Some(contact) = &new.contact {
            require_text(&contact.name, "contact name")?;
            let same = c
                .contacts
                .iter()
                .find(|(_, k)| k.name.trim().eq_ignore_ascii_case(contact.name.trim()))
                .map(|(id, _)| id.clone());
            c.contacts
                .insert(same.unwrap_or_else(new_item_id), contact.clone());
        }
        if c == before {
            return Ok(false);
        }
        self.doc.update(ctx, &c)?;
        Ok(true)
    }

    /// Gives the customer head office's code (admin): a prospect found in the
    /// field gets one when it joins the master data.
    pub fn set_code(&mut self, ctx: &ChangeCtx, code: &str) -> Result<()> {
        let mut c = self.editable(ctx, &[Role::Admin], "give customers their codes")?;
        c.code = require_text(code, "customer code")?;
        self.doc.update(ctx, &c)
    }

    /// Sets the shop's phone number and tax number (the editors of its
    /// details).
    pub fn set_phone_and_tax_number(
        &mut self,
        ctx: &ChangeCtx,
        phone: &str,
        tax_number: &str,
    ) -> Result<()> {
        let mut c = self.editable(ctx, DETAIL_EDITORS, "edit customer details")?;
        c.phone = phone.trim().to_string();
        c.tax_number = tax_number.trim().to_string();
        self.doc.update(ctx, &c)
    }

    /// Moves the customer to another salesperson and region (admin).
    pub fn reassign(&mut self, ctx: &ChangeCtx, owner: &str, region: &str) -> Result<()> {
        let mut c = self.editable(ctx, &[Role::Admin], "reassign customers")?;
        c.meta.owner = require_text(owner, "owner")?;
        c.meta.region = Some(require_text(region, "region")?);
        self.doc.update(ctx, &c)
    }
}

const DETAIL_EDITORS: &[Role] = &[
    Role::Salesperson,
    Role::Manager,
    Role::OrderDesk,
    Role::Admin,
];

//! The one error type of `fieldsync-core`.
//!
//! Every variant reads as a sentence a salesperson or an office clerk can act on;
//! the variant itself says to a program what went wrong.

use rust_decimal::Decimal;

/// Everything that can go wrong in core, written for the person who will read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A quantity was zero or negative.
    #[error("quantity must be positive (got {0})")]
    QuantityNotPositive(Decimal),

    /// A money amount or other decimal could not be read, or is out of range.
    #[error("'{value}' is not a valid {field}: {hint}")]
    InvalidDecimal {
        /// Which field was being set ("unit price", "credit limit", ...).
        field: &'static str,
        /// What the user typed.
        value: String,
        /// How to write it correctly.
        hint: &'static str,
    },

    /// A required text field was left empty.
    #[error("{0} must not be empty")]
    Required(&'static str),

    /// Something is missing before this can be done; the text says what.
    #[error("{0}")]
    Incomplete(&'static str),

    /// An identifier (user, device, region, prefix) contains characters that are not allowed.
    #[error("'{value}' is not a valid {what}: {hint}")]
    InvalidIdentifier {
        /// What kind of identifier.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// What a valid one looks like.
        hint: &'static str,
    },

    /// The actor's role may never perform this action.
    #[error("{role} cannot {action}")]
    RoleNotAllowed {
        /// The actor's role, in words with its article ("an order desk clerk").
        role: &'static str,
        /// The action, in words ("approve orders").
        action: &'static str,
    },

    /// The document belongs to someone else.
    #[error("{what} belongs to {owner}; {user} cannot change it")]
    NotOwner {
        /// The document, in words ("order S07-20261122-003").
        what: String,
        /// Its owner.
        owner: String,
        /// Who tried.
        user: String,
    },

    /// The document is in a region outside the actor's.
    #[error("{what} is in region {region}; a manager of region {actor_region} cannot act on it")]
    OutsideRegion {
        /// The document, in words.
        what: String,
        /// The document's region.
        region: String,
        /// The actor's region.
        actor_region: String,
    },

    /// A lifecycle step that is not possible from the order's current status.
    #[error("order {number} is {status}; it cannot be {action}")]
    TransitionNotAllowed {
        /// Order number.
        number: String,
        /// Current status, in words.
        status: &'static str,
        /// The refused step, in words ("approved", "shipped").
        action: &'static str,
    },

    /// The order is settled (or archived): nothing about it may change any more.
    #[error("order {number} is {status} and can no longer be changed")]
    OrderClosed {
        /// Order number.
        number: String,
        /// "settled", "archived" or "cancelled".
        status: &'static str,
    },

    /// Lines, prices, customer or delivery date after the goods left the warehouse.
    #[error(
        "order {number} has been {status}; its lines, prices, customer and delivery date can no longer be changed"
    )]
    ContentLocked {
        /// Order number.
        number: String,
        /// Current status, in words.
        status: &'static str,
    },

    /// An order line id that the order does not have.
    #[error("order {number} has no line {line}")]
    UnknownLine {
        /// Order number.
        number: String,
        /// The line id asked for.
        line: String,
    },

    /// A value outside its documented limits (`rules::limits`); the message
    /// names the field.
    #[error("{0}")]
    InvalidValue(String),

    /// A reason is required for this step (reject, cancel, credit override).
    #[error("a reason is required to {0}")]
    ReasonRequired(&'static str),

    /// Approving or shipping would take the customer over its credit limit.
    #[error(
        "credit hold on {customer}: receivables {receivables} + open orders {open_orders} + this order {order_total} exceed the credit limit {limit}; record a payment first or override with a reason"
    )]
    OverCreditLimit {
        /// Customer name.
        customer: String,
        /// Receivables as finance published them.
        receivables: Decimal,
        /// Unpaid on the customer's other orders from approval to payment.
        open_orders: Decimal,
        /// This order's total.
        order_total: Decimal,
        /// The customer's credit limit.
        limit: Decimal,
    },

    /// A cash customer has not paid the order in full before shipping.
    #[error(
        "{customer} pays cash: order {number} has {outstanding} outstanding and cannot ship until it is paid, unless overridden with a reason"
    )]
    CashNotPaid {
        /// Customer name.
        customer: String,
        /// Order number.
        number: String,
        /// Amount still to pay.
        outstanding: Decimal,
    },

    /// Settling an order that is not yet paid in full.
    #[error("order {number} has {outstanding} outstanding; it can be settled once paid in full")]
    NotPaidInFull {
        /// Order number.
        number: String,
        /// Amount still to pay.
        outstanding: Decimal,
    },

    /// The customer passed to a credit check is not the order's customer.
    #[error("order {number} is for customer {expected}, not {given}")]
    WrongCustomer {
        /// Order number.
        number: String,
        /// The order's customer id.
        expected: String,
        /// The customer id given.
        given: String,
    },

    /// Split or merge asked for something that does not make sense.
    #[error("cannot {action}: {reason}")]
    InvalidSplitOrMerge {
        /// "split" or "merge".
        action: &'static str,
        /// Why not.
        reason: String,
    },

    /// An order number that is not `PREFIX-YYYYMMDD-NNN`.
    #[error("'{0}' is not an order number; order numbers look like S07-20261122-003")]
    InvalidOrderNumber(String),

    /// A visit step out of order (check-out before check-in, twice, ...).
    #[error("{visit}: {problem}")]
    VisitStep {
        /// The visit, in words ("visit to Hengda Textiles").
        visit: String,
        /// What is wrong.
        problem: &'static str,
    },

    /// A complaint step that is not possible from the complaint's status.
    #[error("complaint about {customer} is {status}; it cannot be {action}")]
    ComplaintStep {
        /// Customer name or id.
        customer: String,
        /// Status in words.
        status: &'static str,
        /// The refused step.
        action: &'static str,
    },

    /// The daily visit report was already submitted.
    #[error("the daily visit report for {date} was already submitted")]
    ReportAlreadySubmitted {
        /// The report's day.
        date: String,
    },

    /// A product code the catalog does not have.
    #[error("the catalog has no product with code {0}")]
    UnknownProduct(String),

    /// A document was opened as the wrong kind ("an order" opened as a visit).
    #[error("document {id} is a {found}, not a {expected}")]
    WrongKind {
        /// Document id.
        id: String,
        /// What the caller expected.
        expected: &'static str,
        /// What the document says it is.
        found: String,
    },

    /// A document nobody has (or that the caller may not see).
    #[error("there is no document {0}")]
    UnknownDocument(String),

    /// The relay refused a change, with its reason.
    #[error("refused: {0}")]
    Refused(String),

    /// A sync message that is malformed, truncated, or of another protocol version.
    #[error("sync failed: {0}")]
    Protocol(String),

    /// The local store could not be read or written.
    #[error("the local store failed: {0}")]
    Store(String),

    /// The disk the store is on is full: nothing was written, and what was
    /// written before is intact. Writing works again once there is room.
    #[error("the disk is full, so nothing could be stored ({0})")]
    DiskFull(String),

    /// The bytes are not a fieldsync document, or the document does not have the
    /// shape this version of fieldsync understands.
    #[error("the document could not be read: {0}")]
    Corrupt(String),
}

/// What kind of problem an [`Error`] is, for callers that map errors onto
/// their own categories (HTTP statuses, the phone library's error variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Something given is not valid (an amount, an id, an empty field).
    InvalidInput,
    /// The actor's role or scope does not allow it.
    NotPermitted,
    /// Not possible in the document's current state.
    Conflict,
    /// No such document, line or product.
    NotFound,
    /// Storage failed or data is damaged.
    Storage,
    /// A sync message is malformed or of another version.
    Protocol,
}

impl Error {
    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::RoleNotAllowed { .. }
            | Error::NotOwner { .. }
            | Error::OutsideRegion { .. }
            | Error::Refused(_) => ErrorKind::NotPermitted,
            Error::TransitionNotAllowed { .. }
            | Error::OrderClosed { .. }
            | Error::ContentLocked { .. }
            | Error::OverCreditLimit { .. }
            | Error::CashNotPaid { .. }
            | Error::NotPaidInFull { .. }
            | Error::VisitStep { .. }
            | Error::ComplaintStep { .. }
            | Error::ReportAlreadySubmitted { .. }
            | Error::Incomplete(_) => ErrorKind::Conflict,
            Error::UnknownDocument(_)
            | Error::UnknownLine { .. }
            | Error::UnknownProduct(_)
            | Error::WrongKind { .. } => ErrorKind::NotFound,
            Error::Store(_) | Error::DiskFull(_) | Error::Corrupt(_) => ErrorKind::Storage,
            Error::Protocol(_) => ErrorKind::Protocol,
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// Shorthand for results in core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Corrupt(e.to_string())
    }
}

impl From<autosurgeon::HydrateError> for Error {
    fn from(e: autosurgeon::HydrateError) -> Self {
        Error::Corrupt(e.to_string())
    }
}

impl From<autosurgeon::ReconcileError> for Error {
    fn from(e: autosurgeon::ReconcileError) -> Self {
        Error::Corrupt(e.to_string())
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
                Error::DiskFull(e.to_string())
            }
            _ => Error::Store(e.to_string()),
        }
    }
}

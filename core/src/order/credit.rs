//! Credit exposure and the credit check made at approval and at shipping
//! (DOMAIN.md, "Customers": receivables may never exceed the limit).
//!
//! One formula, used everywhere a figure about credit is shown or checked
//! (the phone's headroom, approval, shipping, the receivables report):
//!
//! ```text
//! exposure = receivables finance published
//!          + what is unpaid on the customer's other open orders
//!            (approved through delivered: committed to, not yet paid)
//!          + what is unpaid on the order at hand
//! headroom = credit limit − exposure
//! ```
//!
//! Credit customers: approving or shipping may not take the exposure above the
//! limit. Cash customers: the order must be paid in full before it ships.
//! Either can be overridden by a manager (approval) or the warehouse
//! (shipping) with a reason, which is recorded with the step.

use rust_decimal::Decimal;

use super::{Order, OrderAction, OrderStatus};
use crate::customer::{Customer, PaymentTerms};
use crate::error::{Error, Result};
use crate::ids::DocId;
use crate::money::cents;

/// When the check is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditCheckpoint {
    /// A manager approves (or re-approves) the order.
    Approval,
    /// The warehouse ships the order.
    Shipping,
}

impl CreditCheckpoint {
    /// The credit check `action` makes, if any: approvals and shipments.
    pub fn of(action: OrderAction) -> Option<CreditCheckpoint> {
        match action {
            OrderAction::Approve | OrderAction::Reapprove => Some(CreditCheckpoint::Approval),
            OrderAction::Ship => Some(CreditCheckpoint::Shipping),
            _ => None,
        }
    }
}

/// What one order contributes to its customer's exposure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrder {
    /// The order's document id.
    pub order: DocId,
    /// The customer it is for.
    pub customer: DocId,
    /// Its recorded lifecycle stage.
    pub stage: OrderStatus,
    /// What is still to pay on it (never negative).
    pub unpaid: Decimal,
}

impl OpenOrder {
    /// The order's contribution, read from the order.
    pub fn of(order: &Order) -> OpenOrder {
        OpenOrder {
            order: order.id(),
            customer: order.customer,
            stage: order.derived().stage,
            unpaid: order.outstanding(),
        }
    }

    /// Does this order count towards its customer's exposure? From approval
    /// until it is paid: approved through delivered.
    pub fn counts(&self) -> bool {
        counts_toward_exposure(self.stage) && self.unpaid > Decimal::ZERO
    }
}

/// Is an order in `stage` committed to and not yet settled (approved
/// through delivered)?
pub fn counts_toward_exposure(stage: OrderStatus) -> bool {
    matches!(
        stage,
        OrderStatus::Approved
            | OrderStatus::Confirmed
            | OrderStatus::InProduction
            | OrderStatus::InStock
            | OrderStatus::Shipped
            | OrderStatus::Delivered
    )
}

/// A customer's credit terms: what the exposure is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditTerms<'a> {
    /// The customer's document id.
    pub customer: DocId,
    /// The customer's name, for messages.
    pub name: &'a str,
    /// Cash or credit.
    pub payment_terms: PaymentTerms,
    /// The credit limit.
    pub limit: Decimal,
    /// Receivables as finance last published them.
    pub receivables: Decimal,
}

/// A customer's credit exposure, in its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditExposure {
    /// The customer's name, for messages.
    pub customer: String,
    /// Cash or credit.
    pub payment_terms: PaymentTerms,
    /// The credit limit.
    pub limit: Decimal,
    /// Receivables as finance last published them.
    pub receivables: Decimal,
    /// Unpaid on the customer's other orders from approval to payment.
    pub open_orders: Decimal,
    /// Unpaid on the order at hand (zero when there is none).
    pub this_order: Decimal,
}

impl CreditExposure {
    /// The exposure of `customer` with its `orders` (any of its orders, in any
    /// stage; those that do not count are left out) and, if given, the order
    /// at hand (counted in full whatever its stage, and left out of `orders`).
    pub fn new<'a>(
        customer: &Customer,
        orders: impl IntoIterator<Item = &'a OpenOrder>,
        this: Option<&Order>,
    ) -> CreditExposure {
        let terms = CreditTerms {
            customer: customer.id(),
            name: &customer.name,
            payment_terms: customer.payment_terms,
            limit: customer.credit_limit,
            receivables: customer.receivables,
        };
        Self::of_terms(&terms, orders, this)
    }

    /// [`CreditExposure::new`] from a customer's credit terms as a table
    /// holds them (the head-office reports).
    pub fn of_terms<'a>(
        terms: &CreditTerms<'_>,
        orders: impl IntoIterator<Item = &'a OpenOrder>,
        this: Option<&Order>,
    ) -> CreditExposure {
        let this_id = this.map(Order::id);
        let open_orders = orders
            .into_iter()
            .filter(|o| o.customer == terms.customer && Some(o.order) != this_id && o.counts())
            .fold(Decimal::ZERO, |sum, o| saturating_add(sum, o.unpaid));
        CreditExposure {
            customer: terms.name.to_string(),
            payment_terms: terms.payment_terms,
            limit: terms.limit,
            receivables: terms.receivables,
            open_orders,
            this_order: this.map(Order::outstanding).unwrap_or_default(),
        }
    }

    /// Everything the customer owes or is committed to owe.
    pub fn total(&self) -> Decimal {
        saturating_add(
            saturating_add(self.receivables, self.open_orders),
            self.this_order,
        )
    }

    /// How much more the customer may take on (negative when over the limit).
    pub fn headroom(&self) -> Decimal {
        self.limit.checked_sub(self.total()).unwrap_or(Decimal::MIN)
    }

    /// The check at `at` for the order `number` (the order at hand).
    pub fn check(&self, number: &str, at: CreditCheckpoint) -> Result<()> {
        match self.payment_terms {
            PaymentTerms::Credit if self.total() > self.limit => Err(Error::OverCreditLimit {
                customer: self.customer.clone(),
                receivables: cents(self.receivables),
                open_orders: cents(self.open_orders),
                order_total: cents(self.this_order),
                limit: cents(self.limit),
            }),
            PaymentTerms::Cash
                if at == CreditCheckpoint::Shipping && self.this_order > Decimal::ZERO =>
            {
                Err(Error::CashNotPaid {
                    customer: self.customer.clone(),
                    number: number.to_string(),
                    outstanding: cents(self.this_order),
                })
            }
            _ => Ok(()),
        }
    }
}

fn saturating_add(a: Decimal, b: Decimal) -> Decimal {
    a.checked_add(b).unwrap_or(Decimal::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn open(customer: DocId, stage: OrderStatus, unpaid: i64) -> OpenOrder {
        OpenOrder {
            order: DocId::new(),
            customer,
            stage,
            unpaid: Decimal::from(unpaid),
        }
    }

    #[test]
    fn exposure_counts_receivables_open_orders_and_the_order_at_hand() {
        let mut c = customer("1000", PaymentTerms::Credit).read().unwrap();
        c.receivables = Decimal::from(50);
        let id = c.id();
        let orders = [
            open(id, OrderStatus::Approved, 300),
            open(id, OrderStatus::Delivered, 200),
            open(id, OrderStatus::Submitted, 999), // not approved yet
            open(id, OrderStatus::Settled, 999),   // paid
            open(id, OrderStatus::Cancelled, 999), // never owed
            open(DocId::new(), OrderStatus::Approved, 999), // another customer
        ];
        let (o, _) = draft_order(&c);
        let order = o.read().unwrap();
        let e = CreditExposure::new(&c, &orders, Some(&order));
        assert_eq!(e.open_orders, Decimal::from(500));
        assert_eq!(e.this_order, order.total());
        assert_eq!(e.total(), Decimal::from(550) + order.total());
        assert_eq!(e.headroom(), Decimal::from(450) - order.total());
        // The order at hand is not counted twice when it is among the orders.
        let mut with_this = orders.to_vec();
        with_this.push(OpenOrder::of(&order));
        assert_eq!(CreditExposure::new(&c, &with_this, Some(&order)), e);
    }

    #[test]
    fn three_orders_of_900_do_not_fit_a_limit_of_1000() {
        let c = customer("1000", PaymentTerms::Credit).read().unwrap();
        let first = open(c.id(), OrderStatus::Approved, 900);
        let e = CreditExposure {
            this_order: Decimal::from(900),
            ..CreditExposure::new(&c, [&first], None)
        };
        let err = e.check("S-1", CreditCheckpoint::Approval).unwrap_err();
        assert!(matches!(err, Error::OverCreditLimit { .. }), "{err}");
        assert!(err.to_string().contains("900.00"), "{err}");
        let alone = CreditExposure {
            this_order: Decimal::from(900),
            ..CreditExposure::new(&c, [], None)
        };
        alone.check("S-1", CreditCheckpoint::Approval).unwrap();
    }

    #[test]
    fn cash_customers_pay_before_shipping_only() {
        let c = customer("0", PaymentTerms::Cash).read().unwrap();
        let e = CreditExposure {
            this_order: Decimal::from(10),
            ..CreditExposure::new(&c, [], None)
        };
        e.check("S-1", CreditCheckpoint::Approval).unwrap();
        assert!(matches!(
            e.check("S-1", CreditCheckpoint::Shipping),
            Err(Error::CashNotPaid { .. })
        ));
    }
}

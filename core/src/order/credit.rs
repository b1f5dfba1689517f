//! The credit check made at approval and at shipping (DOMAIN.md, "Customers").
//!
//! Credit customers: receivables plus what is still unpaid on this order may not
//! exceed the credit limit. Cash customers: the order must be paid in full before
//! it ships. Either can be overridden by a manager (approval) or the warehouse
//! (shipping) with a reason, which is recorded with the event.

use rust_decimal::Decimal;

use crate::customer::{Customer, PaymentTerms};
use crate::error::{Error, Result};
use crate::money::cents;

/// When the check is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditCheckpoint {
    /// A manager approves (or re-approves) the order.
    Approval,
    /// The warehouse ships the order.
    Shipping,
}

/// Checks `customer`'s credit for an order with `total`, of which `paid` is paid.
pub fn check_credit(
    customer: &Customer,
    order_number: &str,
    total: Decimal,
    paid: Decimal,
    at: CreditCheckpoint,
) -> Result<()> {
    let unpaid = (total - paid).max(Decimal::ZERO);
    match customer.payment_terms {
        PaymentTerms::Credit => {
            if customer.receivables + unpaid > customer.credit_limit {
                return Err(Error::OverCreditLimit {
                    customer: customer.name.clone(),
                    receivables: cents(customer.receivables),
                    order_total: cents(unpaid),
                    limit: cents(customer.credit_limit),
                });
            }
        }
        PaymentTerms::Cash => {
            if at == CreditCheckpoint::Shipping && unpaid > Decimal::ZERO {
                return Err(Error::CashNotPaid {
                    customer: customer.name.clone(),
                    number: order_number.to_string(),
                    outstanding: cents(unpaid),
                });
            }
        }
    }
    Ok(())
}

//! Whether a lifecycle step may be taken: one pure function, [`decide_step`],
//! used by the typed API before it records a step and by the relay when it
//! replays the steps a device sent on top of its own copy. No rule about
//! steps is written anywhere else.

use rust_decimal::Decimal;

use super::credit::{CreditCheckpoint, CreditExposure, OpenOrder};
use super::{Order, OrderAction, OrderStatus};
use crate::actor::Role;
use crate::customer::Customer;
use crate::error::{Error, Result};

/// A step someone asks to take, as it would be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<'a> {
    /// The step.
    pub action: OrderAction,
    /// Why (required to reject, cancel or override the credit check).
    pub reason: &'a str,
    /// The credit check is overridden (approval and shipping only).
    pub credit_override: bool,
}

/// The figures a credit check reads: the customer (limit, terms, published
/// receivables) and its orders, of which those from approval to payment count.
#[derive(Debug, Clone, Copy)]
pub struct CreditFacts<'a> {
    /// The customer.
    pub customer: &'a Customer,
    /// The customer's orders (others are ignored; the order at hand is
    /// counted once whether or not it is among them).
    pub orders: &'a [OpenOrder],
}

impl<'a> From<&'a Customer> for CreditFacts<'a> {
    /// A customer with no other open orders.
    fn from(customer: &'a Customer) -> Self {
        CreditFacts {
            customer,
            orders: &[],
        }
    }
}

impl<'a> From<(&'a Customer, &'a [OpenOrder])> for CreditFacts<'a> {
    fn from((customer, orders): (&'a Customer, &'a [OpenOrder])) -> Self {
        CreditFacts { customer, orders }
    }
}

impl CreditFacts<'_> {
    /// The exposure with `order` as the order at hand.
    pub fn exposure(&self, order: &Order) -> CreditExposure {
        CreditExposure::new(self.customer, self.orders, Some(order))
    }
}

/// Decides whether someone in `role` may take `step` on `order` as it stands
/// (its events so far, its content now), and returns the status the step
/// leads to.
///
/// `credit` is the customer's exposure with this order at hand, for approval
/// and shipping; `None` leaves the credit check to the caller (the relay
/// makes it with its own figures once it has them). Scope (whose order it
/// is) is not decided here: it is the same for every step.
pub fn decide_step(
    role: Role,
    order: &Order,
    step: &Step<'_>,
    credit: Option<&CreditExposure>,
) -> Result<OrderStatus> {
    let action = step.action;
    if !action.roles().contains(&role) {
        return Err(Error::RoleNotAllowed {
            role: role.in_words(),
            action: action.as_permission(),
        });
    }
    let derived = order.derived();
    let stage = derived.stage;
    let shown = order.shown_status(&derived);
    let refused = |status: OrderStatus| {
        if status.is_closed() && action != OrderAction::Archive {
            Error::OrderClosed {
                number: order.number.clone(),
                status: status.as_str(),
            }
        } else {
            Error::TransitionNotAllowed {
                number: order.number.clone(),
                status: status.in_words(),
                action: action.in_words(),
            }
        }
    };
    // While changed after approval, only re-approval, rejection and
    // cancellation are possible; re-approval is possible only then.
    let possible = match action {
        OrderAction::Reapprove => shown == OrderStatus::ChangedAfterApproval,
        OrderAction::Reject => {
            shown == OrderStatus::Submitted || shown == OrderStatus::ChangedAfterApproval
        }
        OrderAction::Cancel => true,
        _ => shown != OrderStatus::ChangedAfterApproval,
    };
    let target = action
        .target(stage)
        .filter(|_| possible)
        .ok_or_else(|| refused(shown))?;
    // A salesperson may only withdraw orders nobody has approved yet.
    if action == OrderAction::Cancel
        && role == Role::Salesperson
        && !matches!(
            stage,
            OrderStatus::Draft | OrderStatus::Submitted | OrderStatus::Rejected
        )
    {
        return Err(Error::RoleNotAllowed {
            role: role.in_words(),
            action: "cancel orders that a manager has approved",
        });
    }
    let needs_reason = match action {
        OrderAction::Reject => Some("reject an order"),
        OrderAction::Cancel => Some("cancel an order"),
        _ if step.credit_override => Some("override the credit check"),
        _ => None,
    };
    if let Some(to) = needs_reason
        && step.reason.trim().is_empty()
    {
        return Err(Error::ReasonRequired(to));
    }
    let checkpoint = match action {
        OrderAction::Approve | OrderAction::Reapprove => Some(CreditCheckpoint::Approval),
        OrderAction::Ship => Some(CreditCheckpoint::Shipping),
        _ => None,
    };
    if step.credit_override && checkpoint.is_none() {
        return Err(Error::Refused(format!(
            "only approval and shipping have a credit check to override, not a step that is {}",
            action.in_words()
        )));
    }
    match action {
        OrderAction::Submit if order.lines.is_empty() => {
            return Err(Error::Required("at least one order line"));
        }
        OrderAction::Settle if order.outstanding() > Decimal::ZERO => {
            return Err(Error::NotPaidInFull {
                number: order.number.clone(),
                outstanding: crate::money::cents(order.outstanding()),
            });
        }
        _ => {}
    }
    if let (Some(at), Some(exposure), false) = (checkpoint, credit, step.credit_override) {
        exposure.check(&order.number, at)?;
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::PaymentTerms;
    use crate::testing::*;

    fn step(action: OrderAction) -> Step<'static> {
        Step {
            action,
            reason: "",
            credit_override: false,
        }
    }

    #[test]
    fn a_step_is_judged_by_the_status_derived_not_by_its_own_from() {
        let c = customer("1000", PaymentTerms::Credit).read().unwrap();
        let (mut o, _) = draft_order(&c);
        o.submit(&sales()).unwrap();
        o.approve(&manager(), &c, None).unwrap();
        let order = o.read().unwrap();
        let cancel = Step {
            reason: "changed my mind",
            ..step(OrderAction::Cancel)
        };
        let e = decide_step(Role::Salesperson, &order, &cancel, None).unwrap_err();
        assert!(e.to_string().contains("manager has approved"), "{e}");
        assert_eq!(
            decide_step(Role::Manager, &order, &cancel, None).unwrap(),
            OrderStatus::Cancelled
        );
    }

    #[test]
    fn reasons_are_required_where_the_audit_trail_needs_them() {
        let c = customer("1000", PaymentTerms::Credit).read().unwrap();
        let (mut o, _) = draft_order(&c);
        o.submit(&sales()).unwrap();
        let order = o.read().unwrap();
        for s in [
            step(OrderAction::Reject),
            Step {
                credit_override: true,
                reason: " ",
                ..step(OrderAction::Approve)
            },
        ] {
            assert!(matches!(
                decide_step(Role::Manager, &order, &s, None),
                Err(Error::ReasonRequired(_))
            ));
        }
        let bogus = Step {
            credit_override: true,
            reason: "why not",
            ..step(OrderAction::Reject)
        };
        assert!(decide_step(Role::Manager, &order, &bogus, None).is_err());
    }

    #[test]
    fn approval_checks_the_exposure_it_is_given() {
        let c = customer("100", PaymentTerms::Credit).read().unwrap();
        let (mut o, _) = draft_order(&c);
        o.submit(&sales()).unwrap();
        let order = o.read().unwrap();
        let exposure = CreditFacts::from(&c).exposure(&order);
        assert!(exposure.total() > c.credit_limit);
        let approve = step(OrderAction::Approve);
        assert!(matches!(
            decide_step(Role::Manager, &order, &approve, Some(&exposure)),
            Err(Error::OverCreditLimit { .. })
        ));
        // Left to the caller when no figures are given; waived by an override.
        decide_step(Role::Manager, &order, &approve, None).unwrap();
        let overridden = Step {
            credit_override: true,
            reason: "paid in advance at the fair",
            ..approve
        };
        decide_step(Role::Manager, &order, &overridden, Some(&exposure)).unwrap();
    }
}

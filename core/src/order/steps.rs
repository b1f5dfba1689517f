//! An order's lifecycle steps. Whether a step may be taken is one pure
//! function, [`decide_step`], used by the typed API before it records a step
//! (the `OrderDoc` methods below) and by the relay when it replays the steps a
//! device sent on top of its own copy. No rule about steps is written
//! anywhere else.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::credit::{CreditCheckpoint, CreditExposure, OpenOrder};
use super::{
    Order, OrderAction, OrderDoc, OrderEvent, OrderStatus, Payment, ProductionInfo, Shipment,
};
use crate::access::{require_role, require_scope};
use crate::actor::{ChangeCtx, Role};
use crate::customer::Customer;
use crate::error::{Error, Result};
use crate::ids::new_item_id;
use crate::money::check_amount;

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

impl<'a> From<&'a OrderEvent> for Step<'a> {
    /// The step a recorded event took, to judge it again.
    fn from(e: &'a OrderEvent) -> Self {
        Step {
            action: e.action,
            reason: &e.reason,
            credit_override: e.credit_override,
        }
    }
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
            role: role.with_article(),
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
            role: role.with_article(),
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
    let checkpoint = CreditCheckpoint::of(action);
    if step.credit_override && checkpoint.is_none() {
        return Err(Error::Refused(format!(
            "only approval and shipping have a credit check to override, not a step that is {}",
            action.in_words()
        )));
    }
    match action {
        OrderAction::Submit if order.lines.is_empty() => {
            return Err(Error::Incomplete(
                "an order needs at least one line before it is submitted",
            ));
        }
        OrderAction::Submit if order.evidence.trim().is_empty() => {
            return Err(Error::Incomplete(
                "an order needs its written evidence (the signed order form, the e-mail, a photo's reference) before it is submitted: no oral orders",
            ));
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

/// The typed API's steps: each decided by [`decide_step`], then recorded
/// as an event signed by the actor.
impl OrderDoc {
    /// Reads the order for `step` by `ctx`: scope checked here, everything
    /// else by [`decide_step`]. Returns the order and the status reached.
    pub(super) fn for_step(
        &self,
        ctx: &ChangeCtx,
        step: &Step<'_>,
        credit: Option<&CreditExposure>,
    ) -> Result<(Order, OrderStatus)> {
        require_role(&ctx.actor, step.action.roles(), step.action.as_permission())?;
        let o = self.read()?;
        require_scope(&ctx.actor, &o.meta, || o.what())?;
        let to = decide_step(ctx.actor.role(), &o, step, credit)?;
        Ok((o, to))
    }

    /// Takes `action` with `reason`: decided by [`decide_step`], then
    /// recorded (after `edit`, which fills in the step's own fields).
    pub(super) fn take_step(
        &mut self,
        ctx: &ChangeCtx,
        action: OrderAction,
        reason: &str,
        edit: impl FnOnce(&mut Order),
    ) -> Result<()> {
        let step = Step {
            action,
            reason,
            credit_override: false,
        };
        let (mut o, to) = self.for_step(ctx, &step, None)?;
        edit(&mut o);
        self.record(ctx, o, action, to, reason.trim().to_string(), false)
    }

    /// Takes a step with a credit check (approval, shipping): without an
    /// override if the credit allows, else with `credit_override` as the
    /// recorded reason.
    fn take_credit_step(
        &mut self,
        ctx: &ChangeCtx,
        action: OrderAction,
        credit: CreditFacts<'_>,
        credit_override: Option<&str>,
        edit: impl FnOnce(&mut Order),
    ) -> Result<()> {
        let o = self.read()?;
        if credit.customer.id() != o.customer {
            return Err(Error::WrongCustomer {
                number: o.number.clone(),
                expected: o.customer.to_string(),
                given: credit.customer.id().to_string(),
            });
        }
        let exposure = credit.exposure(&o);
        let plain = Step {
            action,
            reason: "",
            credit_override: false,
        };
        let (step, decided) = match (self.for_step(ctx, &plain, Some(&exposure)), credit_override) {
            (Err(Error::OverCreditLimit { .. } | Error::CashNotPaid { .. }), Some(reason)) => {
                let step = Step {
                    action,
                    reason,
                    credit_override: true,
                };
                (step, self.for_step(ctx, &step, Some(&exposure)))
            }
            (decided, _) => (plain, decided),
        };
        let (mut o, to) = decided?;
        edit(&mut o);
        let reason = step.reason.trim().to_string();
        self.record(ctx, o, action, to, reason, step.credit_override)
    }

    fn record(
        &mut self,
        ctx: &ChangeCtx,
        mut o: Order,
        action: OrderAction,
        to: OrderStatus,
        reason: String,
        credit_override: bool,
    ) -> Result<()> {
        let digest = action.approves().then(|| o.content_digest());
        // Most steps change nothing but the history: then only it is written.
        let only_steps = {
            let before = self.doc.view_ref::<Order>()?;
            before.events == o.events
                && Order {
                    events: Vec::new(),
                    ..o.clone()
                } == Order {
                    events: Vec::new(),
                    ..before.clone()
                }
        };
        o.events.push(OrderEvent {
            id: new_item_id(),
            action,
            from: o.derived().stage,
            to,
            user: ctx.actor.user().to_string(),
            role: ctx.actor.role().as_str().to_string(),
            device: ctx.actor.device().to_string(),
            at: ctx.at,
            reason,
            digest,
            credit_override,
        });
        if only_steps {
            self.doc
                .update_fields(ctx, &o, |f| f.put("events", &o.events))
        } else {
            self.doc.update(ctx, &o)
        }
    }

    fn simple_step(&mut self, ctx: &ChangeCtx, action: OrderAction) -> Result<()> {
        self.take_step(ctx, action, "", |_| {})
    }

    /// The salesperson (or order desk) hands the order in. It needs at least one line.
    pub fn submit(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Submit)
    }

    /// A manager of the region approves a submitted order, or re-approves one
    /// changed after approval. Credit is checked against `credit` (the
    /// customer, or the customer with its orders: see [`CreditExposure`]);
    /// if it fails, `credit_override` must give the reason to approve anyway.
    pub fn approve<'a>(
        &mut self,
        ctx: &ChangeCtx,
        credit: impl Into<CreditFacts<'a>>,
        credit_override: Option<&str>,
    ) -> Result<()> {
        let action = match self.read()?.status() {
            OrderStatus::ChangedAfterApproval => OrderAction::Reapprove,
            _ => OrderAction::Approve,
        };
        self.take_credit_step(ctx, action, credit.into(), credit_override, |_| {})
    }

    /// A manager sends a submitted order (or a change after approval) back to
    /// the salesperson with a reason.
    pub fn reject(&mut self, ctx: &ChangeCtx, reason: &str) -> Result<()> {
        self.take_step(ctx, OrderAction::Reject, reason, |_| {})
    }

    /// The order desk records the customer's confirmation.
    pub fn confirm(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Confirm)
    }

    /// Production starts the order and says when it expects to finish.
    pub fn start_production(
        &mut self,
        ctx: &ChangeCtx,
        expected_finish: Option<NaiveDate>,
    ) -> Result<()> {
        self.take_step(ctx, OrderAction::StartProduction, "", |o| {
            o.production.expected_finish = expected_finish;
        })
    }

    /// Production updates its expected finish date and note.
    pub fn update_production(&mut self, ctx: &ChangeCtx, info: ProductionInfo) -> Result<()> {
        require_role(
            &ctx.actor,
            &[Role::Production],
            "update production progress",
        )?;
        let mut o = self.read()?;
        let stage = o.derived().stage;
        if stage.is_closed() {
            return Err(Error::OrderClosed {
                number: o.number,
                status: stage.as_str(),
            });
        }
        o.production = info;
        self.doc.update(ctx, &o)
    }

    /// The warehouse books the goods in.
    pub fn mark_in_stock(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::MarkInStock)
    }

    /// The warehouse ships. Blocked when the customer is over credit or a cash
    /// customer has not paid, unless `credit_override` gives a reason.
    pub fn ship<'a>(
        &mut self,
        ctx: &ChangeCtx,
        credit: impl Into<CreditFacts<'a>>,
        shipment: Shipment,
        credit_override: Option<&str>,
    ) -> Result<()> {
        self.take_credit_step(
            ctx,
            OrderAction::Ship,
            credit.into(),
            credit_override,
            |o| {
                o.shipment = shipment;
                if o.shipment.notice.is_empty() {
                    o.shipment.notice = shipping_notice(o);
                }
            },
        )
    }

    /// The customer signed for the goods.
    pub fn mark_delivered(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Deliver)
    }

    /// Finance records a payment; returns the payment's id.
    pub fn record_payment(
        &mut self,
        ctx: &ChangeCtx,
        amount: Decimal,
        reference: &str,
    ) -> Result<String> {
        require_role(&ctx.actor, &[Role::Finance], "record payments")?;
        let mut o = self.read()?;
        let stage = o.derived().stage;
        if stage.is_closed() {
            return Err(Error::OrderClosed {
                number: o.number,
                status: stage.as_str(),
            });
        }
        let amount = check_amount("payment amount", amount)?;
        if amount <= Decimal::ZERO {
            return Err(Error::InvalidDecimal {
                field: "payment amount",
                value: amount.to_string(),
                hint: "a payment must be more than zero",
            });
        }
        let id = new_item_id();
        o.payments.insert(
            id.clone(),
            Payment {
                amount,
                received_at: ctx.at,
                reference: reference.trim().to_string(),
                recorded_by: ctx.actor.user().to_string(),
            },
        );
        self.doc.update(ctx, &o)?;
        Ok(id)
    }

    /// Finance settles a delivered order once it is paid in full.
    pub fn settle(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Settle)
    }

    /// Files a settled or cancelled order.
    pub fn archive(&mut self, ctx: &ChangeCtx) -> Result<()> {
        self.simple_step(ctx, OrderAction::Archive)
    }

    /// Cancels an order before it ships, with a reason. A salesperson may cancel
    /// only orders not yet approved.
    pub fn cancel(&mut self, ctx: &ChangeCtx, reason: &str) -> Result<()> {
        self.take_step(ctx, OrderAction::Cancel, reason, |_| {})
    }
}

fn shipping_notice(o: &Order) -> String {
    let reference = if o.customer_reference.is_empty() {
        String::new()
    } else {
        format!(" (your order {})", o.customer_reference)
    };
    format!(
        "Shipping notice: order {}{reference} for {} has shipped to {}.",
        o.number, o.customer_name, o.delivery.address
    )
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

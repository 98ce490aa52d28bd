//! What the cluster accepts as a TPC-C input: the ranges clause 2 gives each input (2.4.1,
//! 2.5.1, 2.6.1, 2.7.1, 2.8.1), checked at submission (`TransactionDef::validate`), so that a
//! client of the front door cannot store what the specification's generator never makes (a
//! negative payment, a quantity of 255, carrier 200). Keys that name no row are not checked
//! here: the transaction aborts on them, as the specification's unused item number does.

use super::model::*;

fn district(d_id: DistrictId) -> Result<(), String> {
    in_range("district", d_id, 1..=DISTRICTS)
}

fn in_range<T: PartialOrd + std::fmt::Display>(
    what: &str,
    v: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<(), String> {
    if range.contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "{what} {v} is out of range ({}..={})",
            range.start(),
            range.end()
        ))
    }
}

fn customer(c: &CustomerSelector) -> Result<(), String> {
    match c {
        CustomerSelector::Id(id) => in_range("customer", *id, 1..=u32::MAX),
        CustomerSelector::LastName(name) if name.is_empty() || name.len() > 16 => Err(format!(
            "a last name has 1 to 16 characters, got {}",
            name.len()
        )),
        CustomerSelector::LastName(_) => Ok(()),
    }
}

pub fn check_new_order(i: &NewOrderInput) -> Result<(), String> {
    in_range("warehouse", i.w_id, 1..=u32::MAX)?;
    district(i.d_id)?;
    in_range("customer", i.c_id, 1..=u32::MAX)?;
    // The specification's 5..=15, or fewer when a scaled-down population has fewer items.
    in_range("order line count", i.lines.len(), 1..=15)?;
    for l in &i.lines {
        in_range("item", l.ol_i_id, 1..=u32::MAX)?;
        in_range("supplying warehouse", l.ol_supply_w_id, 1..=u32::MAX)?;
        in_range("quantity", l.ol_quantity, 1..=10)?;
    }
    Ok(())
}

pub fn check_payment(i: &PaymentInput) -> Result<(), String> {
    in_range("warehouse", i.w_id, 1..=u32::MAX)?;
    district(i.d_id)?;
    in_range("customer's warehouse", i.c_w_id, 1..=u32::MAX)?;
    district(i.c_d_id)?;
    customer(&i.customer)?;
    // NaN is in no range; `{:e}` keeps -1e308 from printing as 309 digits.
    if (1.0..=5000.0).contains(&i.h_amount) {
        Ok(())
    } else {
        Err(format!(
            "payment amount {:e} is out of range (1.00..=5000.00)",
            i.h_amount
        ))
    }
}

pub fn check_order_status(i: &OrderStatusInput) -> Result<(), String> {
    in_range("warehouse", i.w_id, 1..=u32::MAX)?;
    district(i.d_id)?;
    customer(&i.customer)
}

pub fn check_delivery(i: &DeliveryInput) -> Result<(), String> {
    in_range("warehouse", i.w_id, 1..=u32::MAX)?;
    in_range("carrier", i.o_carrier_id, 1..=10)
}

pub fn check_stock_level(i: &StockLevelInput) -> Result<(), String> {
    in_range("warehouse", i.w_id, 1..=u32::MAX)?;
    district(i.d_id)?;
    in_range("threshold", i.threshold, 10..=20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tpcc::generator::{TpccInputGenerator, TpccMix, TpccOp, TpccScale};

    fn check(op: &TpccOp) -> Result<(), String> {
        match op {
            TpccOp::NewOrder(i) => check_new_order(i),
            TpccOp::Payment(i) => check_payment(i),
            TpccOp::OrderStatus(i) => check_order_status(i),
            TpccOp::Delivery(i) => check_delivery(i),
            TpccOp::StockLevel(i) => check_stock_level(i),
        }
    }

    /// Everything the generator makes passes, rollbacks included (their unused item id is
    /// the transaction's to refuse, not the input check's).
    #[test]
    fn generated_inputs_pass() {
        for (warehouses, scale) in [(1, 0.01), (4, 0.1), (2, 1.0)] {
            let scale = TpccScale::fraction(warehouses, scale);
            let mut g = TpccInputGenerator::new(&scale, TpccMix::standard(), 7).with_rollbacks(10);
            for n in 0..20_000u32 {
                let op = g.next_op(n % 64);
                assert_eq!(check(&op), Ok(()), "{op:?}");
            }
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let line = |q| NewOrderLineInput {
            ol_i_id: 1,
            ol_supply_w_id: 1,
            ol_quantity: q,
        };
        let order = |lines| NewOrderInput {
            w_id: 1,
            d_id: 1,
            c_id: 1,
            lines,
        };
        assert!(check_new_order(&order(vec![line(5)])).is_ok());
        assert!(check_new_order(&order(vec![])).is_err());
        assert!(check_new_order(&order(vec![line(5); 16])).is_err());
        assert!(check_new_order(&order(vec![line(0)])).is_err());
        assert!(check_new_order(&order(vec![line(255)])).is_err());
        let pay = |h_amount, d_id| PaymentInput {
            w_id: 1,
            d_id,
            c_w_id: 1,
            c_d_id: 1,
            customer: CustomerSelector::Id(1),
            h_amount,
        };
        assert!(check_payment(&pay(10.0, 1)).is_ok());
        for bad in [-1e308, 0.0, 5000.01, f64::NAN, f64::INFINITY] {
            assert!(check_payment(&pay(bad, 1)).is_err(), "{bad}");
        }
        assert!(check_payment(&pay(10.0, 11)).is_err());
        let named = |name: &str| OrderStatusInput {
            w_id: 1,
            d_id: 1,
            customer: CustomerSelector::LastName(name.into()),
        };
        assert!(check_order_status(&named("BARBARBAR")).is_ok());
        assert!(check_order_status(&named("")).is_err());
        assert!(check_order_status(&named(&"X".repeat(17))).is_err());
        let delivery = |o_carrier_id| DeliveryInput {
            w_id: 1,
            o_carrier_id,
        };
        assert!(check_delivery(&delivery(10)).is_ok());
        assert!(check_delivery(&delivery(0)).is_err());
        assert!(check_delivery(&delivery(200)).is_err());
        let level = |threshold| StockLevelInput {
            w_id: 1,
            d_id: 1,
            threshold,
        };
        assert!(check_stock_level(&level(15)).is_ok());
        assert!(check_stock_level(&level(-5)).is_err());
        assert!(check_stock_level(&level(21)).is_err());
    }
}

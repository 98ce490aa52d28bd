//! The warehouse service's grains: one per warehouse (the warehouse row) and one per district
//! (the district row, its customers and their history rows).

use super::{DistrictKey, DistrictRows, Dump, TpccWorld};
use crate::tpcc::logic;
use crate::tpcc::model::*;
use baseline::Handles;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::sync::Arc;

// ---------------------------------------------------------------- warehouse

pub struct WarehouseGrain(Option<Warehouse>);
grain!(
    WarehouseGrain,
    "warehouse",
    WarehouseId,
    warehouses,
    |k, w| WarehouseGrain(w.warehouse_row(*k).cloned())
);

/// One-way: a payment's amount, added to `w_ytd` (warehouse grain) or `d_ytd` (district grain).
pub struct AddYtd(pub f64);

impl Handles<AddYtd> for WarehouseGrain {
    type Reply = ();
    async fn handle(&mut self, AddYtd(amount): AddYtd, _: &Arc<TpccWorld>) {
        if let Some(w) = self.0.as_mut() {
            logic::pay_warehouse(w, amount);
        }
    }
}

impl Handles<Dump> for WarehouseGrain {
    type Reply = Option<Warehouse>;
    async fn handle(&mut self, _: Dump, _: &Arc<TpccWorld>) -> Option<Warehouse> {
        self.0.clone()
    }
}

// ---------------------------------------------------------------- district

pub struct DistrictGrain {
    key: DistrictKey,
    district: Option<District>,
    customers: BTreeMap<CustomerId, Customer>,
    /// Customer ids by last name, sorted by (c_first, c_id); names never change.
    by_last_name: FxHashMap<String, Vec<CustomerId>>,
    history: Vec<History>,
}
grain!(
    DistrictGrain,
    "warehouse",
    DistrictKey,
    districts,
    |k, w| DistrictGrain::new(*k, w.take_district(k))
);

impl DistrictGrain {
    fn new(key: DistrictKey, rows: DistrictRows) -> Self {
        let customers: BTreeMap<CustomerId, Customer> =
            rows.customers.into_iter().map(|c| (c.c_id, c)).collect();
        let mut by_last_name: FxHashMap<String, Vec<CustomerId>> = FxHashMap::default();
        for c in customers.values() {
            by_last_name
                .entry(c.c_last.to_string())
                .or_default()
                .push(c.c_id);
        }
        for ids in by_last_name.values_mut() {
            ids.sort_by(|a, b| logic::by_first_name(&customers[a], &customers[b]));
        }
        DistrictGrain {
            key,
            district: rows.district,
            customers,
            by_last_name,
            history: rows.history,
        }
    }

    fn district(&mut self) -> Result<&mut District, String> {
        let (w, d) = self.key;
        self.district
            .as_mut()
            .ok_or_else(|| format!("district {w}/{d} not found"))
    }

    /// Clause 2.5.2.2 / 2.6.2.2: by id, or the customer at position ⌈n/2⌉ of those with the
    /// last name sorted by c_first.
    fn find(&self, by: &CustomerSelector) -> Result<CustomerId, String> {
        let (w, d) = self.key;
        match by {
            CustomerSelector::Id(c_id) if self.customers.contains_key(c_id) => Ok(*c_id),
            CustomerSelector::Id(c_id) => Err(format!("customer {w}/{d}/{c_id} not found")),
            CustomerSelector::LastName(last) => {
                let ids = self.by_last_name.get(last).map_or(&[][..], Vec::as_slice);
                match logic::middle(ids.len()) {
                    Some(at) => Ok(ids[at]),
                    None => Err(format!("customer named {last} in {w}/{d} not found")),
                }
            }
        }
    }
}

/// NewOrder's district part: take the next order id; the rates the total needs.
pub struct NextOrder {
    pub c_id: CustomerId,
}

pub struct OrderRates {
    pub o_id: OrderId,
    pub d_tax: f64,
    pub c_discount: f64,
}

impl Handles<NextOrder> for DistrictGrain {
    type Reply = Result<OrderRates, String>;
    async fn handle(&mut self, e: NextOrder, _: &Arc<TpccWorld>) -> Self::Reply {
        let c_id = self.find(&CustomerSelector::Id(e.c_id))?;
        let c_discount = self.customers[&c_id].c_discount;
        let d = self.district()?;
        let o_id = logic::take_order_id(d);
        Ok(OrderRates {
            o_id,
            d_tax: d.d_tax,
            c_discount,
        })
    }
}

/// Payment's customer part (clause 2.5.2.2), at the customer's district: the customer and a
/// history row naming the paying warehouse and district.
pub struct PayCustomer {
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub customer: CustomerSelector,
    pub h_amount: f64,
    /// `w_name` and `d_name` of the paying district, four spaces apart.
    pub h_data: Chars<24>,
}

impl Handles<PayCustomer> for DistrictGrain {
    type Reply = Result<PaymentResult, String>;
    async fn handle(&mut self, e: PayCustomer, w: &Arc<TpccWorld>) -> Self::Reply {
        let c_id = self.find(&e.customer)?;
        let Some(c) = self.customers.get_mut(&c_id) else {
            return Err(format!("customer {c_id} not found"));
        };
        let result = logic::pay_customer(c, e.w_id, e.d_id, e.h_amount);
        self.history.push(logic::payment_history(
            c,
            e.w_id,
            e.d_id,
            e.h_amount,
            e.h_data,
            w.silo.tick(),
            w.silo.now_us(),
        ));
        Ok(result)
    }
}

impl Handles<AddYtd> for DistrictGrain {
    type Reply = ();
    async fn handle(&mut self, AddYtd(amount): AddYtd, _: &Arc<TpccWorld>) {
        if let Ok(d) = self.district() {
            logic::pay_district(d, amount);
        }
    }
}

/// OrderStatus's customer part: the customer's id and balance.
pub struct FindCustomer(pub CustomerSelector);

impl Handles<FindCustomer> for DistrictGrain {
    type Reply = Result<(CustomerId, f64), String>;
    async fn handle(&mut self, FindCustomer(by): FindCustomer, _: &Arc<TpccWorld>) -> Self::Reply {
        let c_id = self.find(&by)?;
        Ok((c_id, self.customers[&c_id].c_balance))
    }
}

/// One-way, from a Delivery: credit a delivered order's amount to its customer.
pub struct Credit {
    pub c_id: CustomerId,
    pub amount: f64,
}

impl Handles<Credit> for DistrictGrain {
    type Reply = ();
    async fn handle(&mut self, e: Credit, _: &Arc<TpccWorld>) {
        // A one-way message has no one to report a missing customer to.
        if let Some(c) = self.customers.get_mut(&e.c_id) {
            logic::credit_delivery(c, e.amount);
        }
    }
}

/// StockLevel's district part: where the next order id stands.
pub struct NextOrderId;

impl Handles<NextOrderId> for DistrictGrain {
    type Reply = Result<OrderId, String>;
    async fn handle(&mut self, _: NextOrderId, _: &Arc<TpccWorld>) -> Self::Reply {
        Ok(self.district()?.d_next_o_id)
    }
}

impl Handles<Dump> for DistrictGrain {
    type Reply = (Option<District>, Vec<Customer>, Vec<History>);
    async fn handle(&mut self, _: Dump, _: &Arc<TpccWorld>) -> Self::Reply {
        (
            self.district.clone(),
            self.customers.values().cloned().collect(),
            self.history.clone(),
        )
    }
}

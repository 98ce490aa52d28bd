//! The order service's grain: one per district, holding its orders, new orders (undelivered)
//! and order lines.

use super::district::{Credit, DistrictGrain};
use super::{DistrictKey, Dump, OrderRows, TpccWorld};
use crate::tpcc::logic;
use crate::tpcc::model::*;
use baseline::{Handles, tell};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub struct OrderDistrictGrain {
    key: DistrictKey,
    orders: BTreeMap<OrderId, Order>,
    new_orders: BTreeSet<OrderId>,
    lines: BTreeMap<OrderId, Vec<OrderLine>>,
    /// Each customer's most recent order (the largest o_id).
    last_order: FxHashMap<CustomerId, OrderId>,
}
grain!(OrderDistrictGrain, "order", DistrictKey, orders, |k, w| {
    OrderDistrictGrain::new(*k, w.take_orders(k))
});

impl OrderDistrictGrain {
    fn new(key: DistrictKey, rows: OrderRows) -> Self {
        let mut g = OrderDistrictGrain {
            key,
            orders: BTreeMap::new(),
            new_orders: rows.new_orders.iter().map(|no| no.no_o_id).collect(),
            lines: BTreeMap::new(),
            last_order: FxHashMap::default(),
        };
        for o in rows.orders {
            g.note_customer(o.o_c_id, o.o_id);
            g.orders.insert(o.o_id, o);
        }
        for l in rows.lines {
            g.lines.entry(l.ol_o_id).or_default().push(l);
        }
        for lines in g.lines.values_mut() {
            lines.sort_by_key(|l| l.ol_number);
        }
        g
    }

    fn note_customer(&mut self, c_id: CustomerId, o_id: OrderId) {
        let last = self.last_order.entry(c_id).or_insert(o_id);
        *last = (*last).max(o_id);
    }
}

/// NewOrder's order part (clause 2.4.2.2): the order, its new-order row and its lines.
pub struct InsertOrder {
    pub c_id: CustomerId,
    pub o_id: OrderId,
    pub lines: Vec<PricedLine>,
}

impl Handles<InsertOrder> for OrderDistrictGrain {
    type Reply = Result<(), String>;
    async fn handle(&mut self, e: InsertOrder, w: &Arc<TpccWorld>) -> Self::Reply {
        let (w_id, d_id) = self.key;
        if self.orders.contains_key(&e.o_id) {
            return Err(format!("order {w_id}/{d_id}/{} exists", e.o_id));
        }
        let lines: Vec<OrderLine> = e
            .lines
            .iter()
            .enumerate()
            .map(|(n, l)| logic::order_line(w_id, d_id, e.o_id, n, l))
            .collect();
        let order = logic::new_order_row(w_id, d_id, e.o_id, e.c_id, w.silo.now_us(), &e.lines);
        self.orders.insert(e.o_id, order);
        self.new_orders.insert(e.o_id);
        self.lines.insert(e.o_id, lines);
        self.note_customer(e.c_id, e.o_id);
        Ok(())
    }
}

/// OrderStatus's order part: the customer's last order and its lines.
pub struct LastOrder {
    pub c_id: CustomerId,
}

impl Handles<LastOrder> for OrderDistrictGrain {
    type Reply = Option<(Order, Vec<OrderLine>)>;
    async fn handle(&mut self, e: LastOrder, _: &Arc<TpccWorld>) -> Self::Reply {
        let o_id = self.last_order.get(&e.c_id)?;
        let order = self.orders.get(o_id)?.clone();
        let lines = self.lines.get(o_id).cloned().unwrap_or_default();
        Some((order, lines))
    }
}

/// Delivery's part for this district (clause 2.7.4.2): deliver the oldest undelivered order, if
/// any, and tell its customer's district grain to credit the amount (one-way).
pub struct DeliverOldest {
    pub o_carrier_id: u8,
    /// The delivery's time (one per Delivery, for all its districts).
    pub now: u64,
}

impl Handles<DeliverOldest> for OrderDistrictGrain {
    /// The delivered order, or `None` when the district has no undelivered order (skipped).
    type Reply = Result<Option<OrderId>, String>;
    async fn handle(&mut self, e: DeliverOldest, w: &Arc<TpccWorld>) -> Self::Reply {
        let (w_id, d_id) = self.key;
        let Some(&o_id) = self.new_orders.first() else {
            return Ok(None);
        };
        let Some(order) = self.orders.get_mut(&o_id) else {
            return Err(format!("order {w_id}/{d_id}/{o_id} not found"));
        };
        self.new_orders.remove(&o_id);
        let lines = self.lines.get_mut(&o_id).map(Vec::as_mut_slice);
        let amount = logic::deliver(order, lines.unwrap_or_default(), e.o_carrier_id, e.now);
        let credit = Credit {
            c_id: order.o_c_id,
            amount,
        };
        tell::<DistrictGrain, _>(w, &self.key, credit);
        Ok(Some(o_id))
    }
}

/// StockLevel's order part: the distinct items of the orders below `next_o_id`, the last 20.
pub struct RecentItems {
    pub next_o_id: OrderId,
}

impl Handles<RecentItems> for OrderDistrictGrain {
    type Reply = Vec<ItemId>;
    async fn handle(&mut self, e: RecentItems, _: &Arc<TpccWorld>) -> Vec<ItemId> {
        let recent = self.lines.range(logic::recent_orders(e.next_o_id));
        logic::distinct_items(recent.flat_map(|(_, lines)| lines.iter().map(|l| l.ol_i_id)))
    }
}

impl Handles<Dump> for OrderDistrictGrain {
    type Reply = (Vec<Order>, Vec<NewOrder>, Vec<OrderLine>);
    async fn handle(&mut self, _: Dump, _: &Arc<TpccWorld>) -> Self::Reply {
        let (w_id, d_id) = self.key;
        let new_orders = self
            .new_orders
            .iter()
            .map(|&no_o_id| NewOrder {
                no_o_id,
                no_d_id: d_id,
                no_w_id: w_id,
            })
            .collect();
        (
            self.orders.values().cloned().collect(),
            new_orders,
            self.lines.values().flatten().cloned().collect(),
        )
    }
}

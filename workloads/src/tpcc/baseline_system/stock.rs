//! The inventory service's grain: one per warehouse and block of items, holding their stock
//! rows. Items are read-only and live in the world.

use super::{Dump, StockKey, TpccWorld};
use crate::tpcc::logic;
use crate::tpcc::model::*;
use baseline::Handles;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct StockGrain {
    rows: BTreeMap<ItemId, Stock>,
}
grain!(StockGrain, "inventory", StockKey, stock, |k, w| {
    StockGrain {
        rows: w.take_stock(k).into_iter().map(|s| (s.s_i_id, s)).collect(),
    }
});

/// NewOrder's stock part for the lines this grain holds (clause 2.4.2.2).
pub struct TakeStock {
    /// The ordering (home) warehouse and district.
    pub w_id: WarehouseId,
    pub d_id: DistrictId,
    pub lines: Vec<NewOrderLineInput>,
}

impl Handles<TakeStock> for StockGrain {
    /// The priced lines, in the order given.
    type Reply = Result<Vec<PricedLine>, String>;
    async fn handle(&mut self, e: TakeStock, w: &Arc<TpccWorld>) -> Self::Reply {
        // Every item and stock row first, so that a failing message changes nothing here.
        let mut prices = Vec::with_capacity(e.lines.len());
        for l in &e.lines {
            let item = w
                .item(l.ol_i_id)
                .ok_or_else(|| format!("item {} not found", l.ol_i_id))?;
            if !self.rows.contains_key(&l.ol_i_id) {
                let key = (l.ol_supply_w_id, l.ol_i_id);
                return Err(format!("stock {key:?} not found"));
            }
            prices.push(item.i_price);
        }
        let mut out = Vec::with_capacity(e.lines.len());
        for (l, price) in e.lines.iter().zip(prices) {
            let Some(s) = self.rows.get_mut(&l.ol_i_id) else {
                continue; // checked above
            };
            out.push(logic::stock_line(s, l, e.w_id, e.d_id, price));
        }
        Ok(out)
    }
}

/// StockLevel's stock part: how many of these items (held here) have fewer than `threshold`.
pub struct CountLow {
    pub items: Vec<ItemId>,
    pub threshold: i32,
}

impl Handles<CountLow> for StockGrain {
    type Reply = u32;
    async fn handle(&mut self, e: CountLow, _: &Arc<TpccWorld>) -> u32 {
        let quantities = e
            .items
            .iter()
            .filter_map(|i| self.rows.get(i))
            .map(|s| s.s_quantity);
        logic::count_low(quantities, e.threshold)
    }
}

impl Handles<Dump> for StockGrain {
    type Reply = Vec<Stock>;
    async fn handle(&mut self, _: Dump, _: &Arc<TpccWorld>) -> Vec<Stock> {
        self.rows.values().cloned().collect()
    }
}

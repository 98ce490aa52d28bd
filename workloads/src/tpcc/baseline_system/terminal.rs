//! The five transactions, run at the front door (the terminal's task on the silo), which asks
//! the grains step by step; see the module doc of `baseline_system` for what is asked and what
//! is told.

use super::district::{
    AddYtd, DistrictGrain, FindCustomer, NextOrder, NextOrderId, PayCustomer, WarehouseGrain,
};
use super::orders::{DeliverOldest, InsertOrder, LastOrder, OrderDistrictGrain, RecentItems};
use super::stock::{CountLow, StockGrain, TakeStock};
use super::{StockKey, TpccWorld};
use crate::tpcc::logic;
use crate::tpcc::model::*;
use baseline::{SiloError, ask, tell};
use futures::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;

type Res<T> = Result<T, String>;

fn gone(e: SiloError) -> String {
    e.to_string()
}

/// Clause 2.4.2.2: district → stock grains (in parallel) → order-district, all asked.
pub(super) async fn new_order(w: &Arc<TpccWorld>, e: NewOrderInput) -> Res<NewOrderResult> {
    // The item table is immutable and in the world: an unused item id (clause 2.4.2.3) is
    // refused before any grain is asked, so there is nothing to compensate.
    logic::check_items(&e.lines, |i| w.item(i).is_some())?;
    let w_tax = w
        .warehouse_row(e.w_id)
        .ok_or_else(|| format!("warehouse {} not found", e.w_id))?
        .w_tax;
    let next = NextOrder { c_id: e.c_id };
    let rates = ask::<DistrictGrain, _>(w, &(e.w_id, e.d_id), next)
        .await
        .map_err(gone)??;
    // The lines by the stock grain holding them.
    let mut groups: BTreeMap<StockKey, Vec<usize>> = BTreeMap::new();
    for (n, l) in e.lines.iter().enumerate() {
        let key = w.stock_key(l.ol_supply_w_id, l.ol_i_id);
        groups.entry(key).or_default().push(n);
    }
    let asks = groups.iter().map(|(key, at)| {
        let take = TakeStock {
            w_id: e.w_id,
            d_id: e.d_id,
            lines: at.iter().map(|&n| e.lines[n].clone()).collect(),
        };
        ask::<StockGrain, _>(w, key, take)
    });
    let replies = join_all(asks).await;
    let mut priced: Vec<Option<PricedLine>> = vec![None; e.lines.len()];
    for (at, reply) in groups.values().zip(replies) {
        for (&n, line) in at.iter().zip(reply.map_err(gone)??) {
            priced[n] = Some(line);
        }
    }
    let lines: Vec<PricedLine> = priced
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("a stock grain left a line unpriced")?;
    let total_amount = logic::order_total(&lines, rates.c_discount, w_tax, rates.d_tax);
    let ol_cnt = lines.len() as u8;
    let insert = InsertOrder {
        c_id: e.c_id,
        o_id: rates.o_id,
        lines,
    };
    ask::<OrderDistrictGrain, _>(w, &(e.w_id, e.d_id), insert)
        .await
        .map_err(gone)??;
    Ok(NewOrderResult {
        w_id: e.w_id,
        d_id: e.d_id,
        o_id: rates.o_id,
        c_id: e.c_id,
        ol_cnt,
        total_amount,
    })
}

/// Clause 2.5.2.2: the customer part is asked; once it answered, the warehouse's and the
/// district's year-to-date totals are told (one-way).
pub(super) async fn payment(w: &Arc<TpccWorld>, e: PaymentInput) -> Res<PaymentResult> {
    let w_name = &w
        .warehouse_row(e.w_id)
        .ok_or_else(|| format!("warehouse {} not found", e.w_id))?
        .w_name;
    let d_name = w
        .district_name((e.w_id, e.d_id))
        .ok_or_else(|| format!("district {}/{} not found", e.w_id, e.d_id))?;
    let pay = PayCustomer {
        w_id: e.w_id,
        d_id: e.d_id,
        customer: e.customer,
        h_amount: e.h_amount,
        h_data: logic::history_data(w_name, d_name),
    };
    let result = ask::<DistrictGrain, _>(w, &(e.c_w_id, e.c_d_id), pay)
        .await
        .map_err(gone)??;
    tell::<WarehouseGrain, _>(w, &e.w_id, AddYtd(e.h_amount));
    tell::<DistrictGrain, _>(w, &(e.w_id, e.d_id), AddYtd(e.h_amount));
    Ok(result)
}

/// Clause 2.6.2.2: district (the customer) → order-district (its last order), asked.
pub(super) async fn order_status(
    w: &Arc<TpccWorld>,
    e: OrderStatusInput,
) -> Res<OrderStatusResult> {
    let key = (e.w_id, e.d_id);
    let (c_id, c_balance) = ask::<DistrictGrain, _>(w, &key, FindCustomer(e.customer))
        .await
        .map_err(gone)??;
    let last = ask::<OrderDistrictGrain, _>(w, &key, LastOrder { c_id })
        .await
        .map_err(gone)?;
    Ok(OrderStatusResult {
        c_id,
        c_balance,
        o_id: last.as_ref().map(|(o, _)| o.o_id),
        o_carrier_id: last.as_ref().and_then(|(o, _)| o.o_carrier_id),
        lines: last.map(|(_, lines)| lines).unwrap_or_default(),
    })
}

/// Clause 2.7.4.2: the ten order-district grains deliver in parallel (asked); each tells its
/// customer's credit one-way.
pub(super) async fn delivery(w: &Arc<TpccWorld>, e: DeliveryInput) -> Res<DeliveryResult> {
    let now = w.silo.now_us();
    let asks = (1..=DISTRICTS).map(|d_id| {
        let deliver = DeliverOldest {
            o_carrier_id: e.o_carrier_id,
            now,
        };
        ask::<OrderDistrictGrain, _>(w, &(e.w_id, d_id), deliver)
    });
    let replies = join_all(asks).await;
    let mut delivered = Vec::new();
    for (d_id, reply) in (1..=DISTRICTS).zip(replies) {
        if let Some(o_id) = reply.map_err(gone)?? {
            delivered.push((d_id, o_id));
        }
    }
    Ok(DeliveryResult {
        w_id: e.w_id,
        delivered,
    })
}

/// Clause 2.8.2.2: district (next order id) → order-district (items of the last 20 orders) →
/// the stock grains holding them (in parallel), all asked.
pub(super) async fn stock_level(w: &Arc<TpccWorld>, e: StockLevelInput) -> Res<StockLevelResult> {
    let key = (e.w_id, e.d_id);
    let next_o_id = ask::<DistrictGrain, _>(w, &key, NextOrderId)
        .await
        .map_err(gone)??;
    let items = ask::<OrderDistrictGrain, _>(w, &key, RecentItems { next_o_id })
        .await
        .map_err(gone)?;
    let mut groups: BTreeMap<StockKey, Vec<ItemId>> = BTreeMap::new();
    for i in items {
        groups.entry(w.stock_key(e.w_id, i)).or_default().push(i);
    }
    let asks = groups.into_iter().map(|(key, items)| {
        let count = CountLow {
            items,
            threshold: e.threshold,
        };
        ask::<StockGrain, _>(w, &key, count)
    });
    let mut low_stock = 0;
    for reply in join_all(asks).await {
        low_stock += reply.map_err(gone)?;
    }
    Ok(StockLevelResult { low_stock })
}

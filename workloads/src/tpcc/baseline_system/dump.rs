//! The state dump at quiescence: every grain's rows, in key order.

use super::district::{DistrictGrain, WarehouseGrain};
use super::orders::OrderDistrictGrain;
use super::stock::StockGrain;
use super::{Dump, TpccWorld};
use crate::tpcc::TpccState;
use baseline::{Grain, Handles, ask};
use futures::future::join_all;
use std::sync::Arc;

/// Every grain's rows (a grain never activated is activated by the dump, with its initial rows).
pub(super) async fn dump(w: Arc<TpccWorld>) -> Result<TpccState, String> {
    async fn all<G>(w: &Arc<TpccWorld>, keys: &[G::Key]) -> Result<Vec<G::Reply>, String>
    where
        G: Grain<World = TpccWorld> + Handles<Dump>,
    {
        join_all(keys.iter().map(|k| ask::<G, _>(w, k, Dump)))
            .await
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }
    let mut s = TpccState {
        items: w.items.clone(),
        ..TpccState::default()
    };
    s.warehouses = all::<WarehouseGrain>(&w, &w.warehouse_keys)
        .await?
        .into_iter()
        .flatten()
        .collect();
    for (district, customers, history) in all::<DistrictGrain>(&w, &w.district_keys).await? {
        s.districts.extend(district);
        s.customers.extend(customers);
        s.history.extend(history);
    }
    s.stock = all::<StockGrain>(&w, &w.stock_keys)
        .await?
        .into_iter()
        .flatten()
        .collect();
    for (orders, new_orders, lines) in all::<OrderDistrictGrain>(&w, &w.district_keys).await? {
        s.orders.extend(orders);
        s.new_orders.extend(new_orders);
        s.order_lines.extend(lines);
    }
    sort_state(&mut s);
    Ok(s)
}

/// Rows in key order, as vMODB's tables read them.
fn sort_state(s: &mut TpccState) {
    use vmodb::Entity;
    fn by_key<E: Entity>(rows: &mut [E])
    where
        E::Key: Ord,
    {
        rows.sort_by_key(|r| r.key());
    }
    by_key(&mut s.warehouses);
    by_key(&mut s.districts);
    by_key(&mut s.customers);
    by_key(&mut s.history);
    by_key(&mut s.items);
    by_key(&mut s.stock);
    by_key(&mut s.orders);
    by_key(&mut s.new_orders);
    by_key(&mut s.order_lines);
}

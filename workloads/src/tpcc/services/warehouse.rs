//! Warehouse: warehouses, districts, customers and the payment history.
//!
//! Handlers partition by district (`WarehouseKey`): New-Order takes `w_tax` from a read-only copy
//! (`WarehouseTax`, as the baseline reads it from the initial data), so it touches only its
//! district's rows; Payment also takes the paying warehouse, whose row it writes.
use super::*;
use vmodb::{Entity, Handler, Repo, Service, TableDef, TxCtx};

/// `w_tax`, which nothing writes: New-Order reads it here instead of the warehouse row that
/// Payment writes. The service's own copy, loaded with the warehouses; not a benchmark table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WarehouseTax {
    pub w_id: WarehouseId,
    pub w_tax: f64,
}

impl Entity for WarehouseTax {
    type Key = WarehouseId;
    fn key(&self) -> WarehouseId {
        self.w_id
    }
}

/// What a warehouse-service task declares it touches.
#[derive(Hash)]
enum WarehouseKey {
    /// The warehouse row.
    Warehouse(WarehouseId),
    /// The district row and the district's customers.
    District(WarehouseId, DistrictId),
}

pub(super) fn warehouse(items: ItemCheck) -> Service {
    Service::new("warehouse")
        // The item table is read-only: this service keeps its own copy to refuse unused ids.
        .table(TableDef::<Item>::new("item", &["i_id"]))
        .table(TableDef::<Warehouse>::new("warehouse", &["w_id"]))
        .table(TableDef::<WarehouseTax>::new("warehouse_tax", &["w_id"]))
        .table(TableDef::<District>::new("district", &["d_w_id", "d_id"]))
        .table(
            TableDef::<Customer>::new("customer", &["c_w_id", "c_d_id", "c_id"])
                .index("by_last_name", &["c_w_id", "c_d_id", "c_last"]),
        )
        .table(TableDef::<History>::new("history", &["h_id"]))
        .handler(
            Handler::on::<NewOrderInput>("new_order")
                .emits::<NewOrderWare>("new_order_ware")
                .read_write()
                // Safe: writes the district row and reads one of its customers (and the tax
                // copy and the item table, which nothing writes).
                .partition_by(|e: &NewOrderInput| WarehouseKey::District(e.w_id, e.d_id))
                .run(move |ctx, e| {
                    if items == ItemCheck::AtEntry {
                        let item = ctx.table::<Item>()?;
                        logic::check_items(&e.lines, |i| item.exists(&i))
                            .map_err(TxError::abort)?;
                    }
                    let w_tax = ctx
                        .table::<WarehouseTax>()?
                        .read(&e.w_id, |w| w.w_tax)
                        .ok_or_else(|| missing(format!("warehouse {}", e.w_id)))?;
                    let districts = ctx.table::<District>()?;
                    let mut d = districts
                        .get(&(e.w_id, e.d_id))
                        .ok_or_else(|| missing(format!("district {}/{}", e.w_id, e.d_id)))?;
                    let o_id = logic::take_order_id(&mut d);
                    let d_tax = d.d_tax;
                    districts.update(d)?;
                    let c = ctx
                        .table::<Customer>()?
                        .get(&(e.w_id, e.d_id, e.c_id))
                        .ok_or_else(|| missing(format!("customer {}", e.c_id)))?;
                    Ok(NewOrderWare {
                        w_id: e.w_id,
                        d_id: e.d_id,
                        c_id: e.c_id,
                        o_id,
                        w_tax,
                        d_tax,
                        c_discount: c.c_discount,
                        lines: e.lines,
                    })
                }),
        )
        .handler(
            Handler::on::<PaymentInput>("payment")
                .emits::<PaymentResult>("payment_result")
                .read_write()
                // Safe: writes the paying warehouse's warehouse and district rows, the paid
                // customer (of district c_d_id of c_w_id, found there by id or name) and a new
                // history row keyed by this TID.
                .partition_by_keys(|e: &PaymentInput| {
                    [
                        WarehouseKey::Warehouse(e.w_id),
                        WarehouseKey::District(e.w_id, e.d_id),
                        WarehouseKey::District(e.c_w_id, e.c_d_id),
                    ]
                })
                .run(payment),
        )
        .handler(
            Handler::on::<OrderStatusInput>("order_status")
                .emits::<OrderStatusCustomer>("order_status_customer")
                .read_only()
                .parallel()
                .run(|ctx, e| {
                    let customers = ctx.table::<Customer>()?;
                    let c = find_customer(&customers, e.w_id, e.d_id, &e.customer)?;
                    Ok(OrderStatusCustomer {
                        w_id: e.w_id,
                        d_id: e.d_id,
                        c_id: c.c_id,
                        c_balance: c.c_balance,
                    })
                }),
        )
        .handler(
            Handler::on::<DeliveryDone>("delivery_done")
                .emits::<DeliveryResult>("delivery_result")
                .read_write()
                // Safe: writes customers of this warehouse's districts only.
                .partition_by_keys(|e: &DeliveryDone| {
                    let w_id = e.w_id;
                    (1..=DISTRICTS).map(move |d| WarehouseKey::District(w_id, d))
                })
                .run(|ctx, e| {
                    let customers = ctx.table::<Customer>()?;
                    for o in &e.delivered {
                        let key = (e.w_id, o.d_id, o.c_id);
                        let mut c = customers
                            .get(&key)
                            .ok_or_else(|| missing(format!("customer {key:?}")))?;
                        logic::credit_delivery(&mut c, o.amount);
                        customers.update(c)?;
                    }
                    Ok(DeliveryResult {
                        w_id: e.w_id,
                        delivered: e.delivered.iter().map(|o| (o.d_id, o.o_id)).collect(),
                    })
                }),
        )
        .handler(
            Handler::on::<StockLevelInput>("stock_level")
                .emits::<StockLevelDistrict>("stock_level_district")
                .read_only()
                .parallel()
                .run(|ctx, e| {
                    let d = ctx
                        .table::<District>()?
                        .get(&(e.w_id, e.d_id))
                        .ok_or_else(|| missing(format!("district {}/{}", e.w_id, e.d_id)))?;
                    Ok(StockLevelDistrict {
                        w_id: e.w_id,
                        d_id: e.d_id,
                        next_o_id: d.d_next_o_id,
                        threshold: e.threshold,
                    })
                }),
        )
}

/// Clause 2.5.2.2 / 2.6.2.2: by id, or the customer at position ⌈n/2⌉ of those with the last
/// name sorted by c_first.
fn find_customer(
    customers: &Repo<'_, Customer>,
    w_id: WarehouseId,
    d_id: DistrictId,
    by: &CustomerSelector,
) -> Result<Customer, TxError> {
    match by {
        CustomerSelector::Id(c_id) => customers
            .get(&(w_id, d_id, *c_id))
            .ok_or_else(|| missing(format!("customer {w_id}/{d_id}/{c_id}"))),
        CustomerSelector::LastName(last) => {
            let mut found = customers
                .by_index("by_last_name", (w_id, d_id, last.as_str()))
                .rows()?;
            let middle = logic::middle(found.len())
                .ok_or_else(|| missing(format!("customer named {last} in {w_id}/{d_id}")))?;
            found.sort_by(logic::by_first_name);
            Ok(found.swap_remove(middle))
        }
    }
}

/// Clause 2.5.2.2.
fn payment(ctx: &TxCtx, e: PaymentInput) -> Result<PaymentResult, TxError> {
    let warehouses = ctx.table::<Warehouse>()?;
    let mut w = warehouses
        .get(&e.w_id)
        .ok_or_else(|| missing(format!("warehouse {}", e.w_id)))?;
    logic::pay_warehouse(&mut w, e.h_amount);
    let w_name = w.w_name;
    warehouses.update(w)?;
    let districts = ctx.table::<District>()?;
    let mut d = districts
        .get(&(e.w_id, e.d_id))
        .ok_or_else(|| missing(format!("district {}/{}", e.w_id, e.d_id)))?;
    logic::pay_district(&mut d, e.h_amount);
    let d_name = d.d_name;
    districts.update(d)?;
    let customers = ctx.table::<Customer>()?;
    let mut c = find_customer(&customers, e.c_w_id, e.c_d_id, &e.customer)?;
    let result = logic::pay_customer(&mut c, e.w_id, e.d_id, e.h_amount);
    let h_data = logic::history_data(&w_name, &d_name);
    let history = logic::payment_history(
        &c,
        e.w_id,
        e.d_id,
        e.h_amount,
        h_data,
        ctx.tid(),
        ctx.now_us(),
    );
    ctx.table::<History>()?.insert(history)?;
    customers.update(c)?;
    Ok(result)
}

//! The initial population (clause 4.3.3.1); see the parent module for the rules.

use super::*;

/// The initial population (clause 4.3.3.1) of `scale`, a function of the seed; rows in key
/// order. Panics if the scale does not [`TpccScale::validate`].
pub fn populate(scale: &TpccScale, seed: u64) -> TpccState {
    if let Err(e) = scale.validate() {
        panic!("invalid TPC-C scale: {e}");
    }
    let load = NuRandConstants::load(seed);
    let w_count = scale.warehouses as usize;
    let districts = w_count * usize::from(DISTRICTS);
    let customers = districts * scale.customers_per_district as usize;
    let orders = districts * scale.orders_per_district as usize;
    let mut state = TpccState {
        warehouses: Vec::with_capacity(w_count),
        districts: Vec::with_capacity(districts),
        customers: Vec::with_capacity(customers),
        history: Vec::with_capacity(customers),
        items: populate_items(scale, seed),
        stock: Vec::with_capacity(w_count * scale.items as usize),
        orders: Vec::with_capacity(orders),
        new_orders: Vec::with_capacity(districts * scale.new_orders_per_district as usize),
        order_lines: Vec::with_capacity(orders * 10),
    };
    for w_id in 1..=scale.warehouses {
        populate_warehouse(scale, seed, w_id, &mut state);
        populate_stock(scale, seed, w_id, &mut state.stock);
        populate_customers(scale, seed, w_id, &load, &mut state);
        populate_orders(scale, seed, w_id, &mut state);
    }
    state
}

fn populate_items(scale: &TpccScale, seed: u64) -> Vec<Item> {
    let mut rng = rng_for(seed, TAG_ITEM, 0);
    (1..=scale.items)
        .map(|i_id| Item {
            i_id,
            i_im_id: rng.random_range(1..=10_000),
            i_name: astring(&mut rng, 14, 24).into(),
            i_price: money(&mut rng, 100, 10_000),
            i_data: data_with_original(&mut rng).into(),
        })
        .collect()
}

fn populate_warehouse(scale: &TpccScale, seed: u64, w_id: WarehouseId, state: &mut TpccState) {
    let mut rng = rng_for(seed, TAG_WAREHOUSE, w_id);
    // The spec's 30,000.00 and 300,000.00 are the initial history (10.00 per customer) summed,
    // which conditions 8 and 9 require; a scaled-down load scales them with its customers.
    let d_ytd = f64::from(scale.customers_per_district) * 10.0;
    state.warehouses.push(Warehouse {
        w_id,
        w_name: astring(&mut rng, 6, 10).into(),
        w_street_1: astring(&mut rng, 10, 20).into(),
        w_street_2: astring(&mut rng, 10, 20).into(),
        w_city: astring(&mut rng, 10, 20).into(),
        w_state: state_code(&mut rng).into(),
        w_zip: zip(&mut rng).into(),
        w_tax: rate(&mut rng, 2_000),
        w_ytd: d_ytd * f64::from(DISTRICTS),
    });
    for d_id in 1..=DISTRICTS {
        state.districts.push(District {
            d_id,
            d_w_id: w_id,
            d_name: astring(&mut rng, 6, 10).into(),
            d_street_1: astring(&mut rng, 10, 20).into(),
            d_street_2: astring(&mut rng, 10, 20).into(),
            d_city: astring(&mut rng, 10, 20).into(),
            d_state: state_code(&mut rng).into(),
            d_zip: zip(&mut rng).into(),
            d_tax: rate(&mut rng, 2_000),
            d_ytd,
            d_next_o_id: scale.orders_per_district + 1,
        });
    }
}

fn populate_stock(scale: &TpccScale, seed: u64, w_id: WarehouseId, stock: &mut Vec<Stock>) {
    let mut rng = rng_for(seed, TAG_STOCK, w_id);
    for s_i_id in 1..=scale.items {
        stock.push(Stock {
            s_i_id,
            s_w_id: w_id,
            s_quantity: rng.random_range(10..=100),
            s_dist_01: alnum(&mut rng, 24).into(),
            s_dist_02: alnum(&mut rng, 24).into(),
            s_dist_03: alnum(&mut rng, 24).into(),
            s_dist_04: alnum(&mut rng, 24).into(),
            s_dist_05: alnum(&mut rng, 24).into(),
            s_dist_06: alnum(&mut rng, 24).into(),
            s_dist_07: alnum(&mut rng, 24).into(),
            s_dist_08: alnum(&mut rng, 24).into(),
            s_dist_09: alnum(&mut rng, 24).into(),
            s_dist_10: alnum(&mut rng, 24).into(),
            s_ytd: 0,
            s_order_cnt: 0,
            s_remote_cnt: 0,
            s_data: data_with_original(&mut rng).into(),
        });
    }
}

fn populate_customers(
    scale: &TpccScale,
    seed: u64,
    w_id: WarehouseId,
    load: &NuRandConstants,
    state: &mut TpccState,
) {
    let mut rng = rng_for(seed, TAG_CUSTOMER, w_id);
    for d_id in 1..=DISTRICTS {
        for c_id in 1..=scale.customers_per_district {
            let name = if c_id <= 1_000 {
                c_id - 1
            } else {
                nurand(&mut rng, 255, load.c_last, 0, 999)
            };
            state.customers.push(Customer {
                c_id,
                c_d_id: d_id,
                c_w_id: w_id,
                c_first: astring(&mut rng, 8, 16).into(),
                c_middle: "OE".into(),
                c_last: last_name(name).into(),
                c_street_1: astring(&mut rng, 10, 20).into(),
                c_street_2: astring(&mut rng, 10, 20).into(),
                c_city: astring(&mut rng, 10, 20).into(),
                c_state: state_code(&mut rng).into(),
                c_zip: zip(&mut rng).into(),
                c_phone: nstring(&mut rng, 16).into(),
                c_since: LOAD_TIME,
                c_credit: if rng.random_range(0..10) == 0 {
                    "BC"
                } else {
                    "GC"
                }
                .into(),
                c_credit_lim: 50_000.0,
                c_discount: rate(&mut rng, 5_000),
                c_balance: -10.0,
                c_ytd_payment: 10.0,
                c_payment_cnt: 1,
                c_delivery_cnt: 0,
                c_data: astring(&mut rng, 300, 500).into(),
            });
            state.history.push(History {
                h_id: state.history.len() as u64 + 1,
                h_c_id: c_id,
                h_c_d_id: d_id,
                h_c_w_id: w_id,
                h_d_id: d_id,
                h_w_id: w_id,
                h_date: LOAD_TIME,
                h_amount: 10.0,
                h_data: astring(&mut rng, 12, 24).into(),
            });
        }
    }
}

fn populate_orders(scale: &TpccScale, seed: u64, w_id: WarehouseId, state: &mut TpccState) {
    let mut rng = rng_for(seed, TAG_ORDER, w_id);
    let first_new = scale.first_new_order_id();
    let mut permutation: Vec<CustomerId> =
        Vec::with_capacity(scale.customers_per_district as usize);
    for d_id in 1..=DISTRICTS {
        permutation.clear();
        permutation.extend(1..=scale.customers_per_district);
        permutation.shuffle(&mut rng);
        for o_id in 1..=scale.orders_per_district {
            let delivered = o_id < first_new;
            let o_ol_cnt: u8 = rng.random_range(5..=15);
            state.orders.push(Order {
                o_id,
                o_d_id: d_id,
                o_w_id: w_id,
                o_c_id: permutation[(o_id - 1) as usize],
                o_entry_d: LOAD_TIME,
                o_carrier_id: delivered.then(|| rng.random_range(1..=10)),
                o_ol_cnt,
                o_all_local: 1,
            });
            for ol_number in 1..=o_ol_cnt {
                state.order_lines.push(OrderLine {
                    ol_o_id: o_id,
                    ol_d_id: d_id,
                    ol_w_id: w_id,
                    ol_number,
                    ol_i_id: rng.random_range(1..=scale.items),
                    ol_supply_w_id: w_id,
                    ol_delivery_d: delivered.then_some(LOAD_TIME),
                    ol_quantity: 5,
                    ol_amount: if delivered {
                        0.0
                    } else {
                        money(&mut rng, 1, 999_999)
                    },
                    ol_dist_info: alnum(&mut rng, 24).into(),
                });
            }
            if !delivered {
                state.new_orders.push(NewOrder {
                    no_o_id: o_id,
                    no_d_id: d_id,
                    no_w_id: w_id,
                });
            }
        }
    }
}

//! Payment (clause 2.5.2.2).

use super::*;

/// The expected effect of a Payment of `amount` by district `(w, d)` on customer `c`, apart
/// from C_DATA; returns the customer's new balance.
pub(super) fn pay(
    expected: &mut TpccState,
    (w, d): (WarehouseId, DistrictId),
    c: (WarehouseId, DistrictId, CustomerId),
    amount: f64,
    tid: Tid,
    h_date: u64,
) -> f64 {
    let wh = row(&mut expected.warehouses, w);
    wh.w_ytd = cents(wh.w_ytd + amount);
    let w_name = wh.w_name.to_string();
    let di = row(&mut expected.districts, (w, d));
    di.d_ytd = cents(di.d_ytd + amount);
    let d_name = di.d_name.to_string();
    let cu = row(&mut expected.customers, c);
    cu.c_balance = cents(cu.c_balance - amount);
    cu.c_ytd_payment = cents(cu.c_ytd_payment + amount);
    cu.c_payment_cnt += 1;
    let balance = cu.c_balance;
    expected.history.push(History {
        h_id: HISTORY_RUN_BASE + tid,
        h_c_id: c.2,
        h_c_d_id: c.1,
        h_c_w_id: c.0,
        h_d_id: d,
        h_w_id: w,
        h_date,
        h_amount: amount,
        h_data: format!("{w_name}    {d_name}").into(),
    });
    balance
}

pub(super) fn h_date(s: &TpccState, tid: Tid) -> u64 {
    let h = get(&s.history, HISTORY_RUN_BASE + tid);
    assert!(h.h_date > 0, "h_date is the transaction's time");
    h.h_date
}

/// Clause 2.5.2.2, customer by id, good credit: W_YTD and D_YTD += H_AMOUNT, C_BALANCE −=,
/// C_YTD_PAYMENT +=, C_PAYMENT_CNT += 1, C_DATA unchanged ("GC"); a history row with
/// H_DATA = W_NAME + 4 spaces + D_NAME.
#[test]
fn payment_by_id_of_a_good_credit_customer() {
    let mut t = Tpcc::start(population());
    let input = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(1),
        h_amount: 100.00,
    };
    let (tid, result): (_, PaymentResult) = t.commit(PAYMENT, &input);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 1,
            c_d_id: 1,
            c_id: 1,
            c_balance: -110.00,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 1), (1, 1, 1), 100.00, tid, date);
    // Spelled out once, independently of `pay`.
    assert_eq!(get(&expected.warehouses, 1).w_ytd, 300_100.00);
    assert_eq!(get(&expected.districts, (1, 1)).d_ytd, 30_100.00);
    let c = get(&expected.customers, (1, 1, 1));
    assert_eq!(
        (c.c_balance, c.c_ytd_payment, c.c_payment_cnt),
        (-110.00, 110.00, 2)
    );
    assert_eq!(
        &*get(&expected.history, HISTORY_RUN_BASE + tid).h_data,
        "Alpha    North"
    );
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.5.2.2, customer by last name: of the customers of the district with the
/// last name, sorted by C_FIRST, the one at position ⌈n/2⌉ pays. Two ABLEABLE (Zoe c3, Amy c4):
/// position 1, Amy (not c3, the first by id). Three PRIPRI in 1/1 (Carl c5, Alice c6, Bea c7;
/// Aaron PRIPRI of district 1/2 does not count): position 2, Bea — a "BC" customer, whose C_DATA
/// gets "C_ID C_D_ID C_W_ID D_ID W_ID H_AMOUNT | " in front.
#[test]
fn payment_by_last_name_takes_the_middle_customer_by_first_name() {
    let mut t = Tpcc::start(population());
    let two = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::LastName("ABLEABLE".into()),
        h_amount: 42.42,
    };
    let (tid_two, result): (_, PaymentResult) = t.commit(PAYMENT, &two);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 1,
            c_d_id: 1,
            c_id: 4,
            c_balance: -52.42,
        }
    );
    let three = PaymentInput {
        customer: CustomerSelector::LastName("PRIPRI".into()),
        h_amount: 12.34,
        ..two
    };
    let (tid_three, result): (_, PaymentResult) = t.commit(PAYMENT, &three);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 1,
            c_d_id: 1,
            c_id: 7,
            c_balance: -22.34,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid_two);
    pay(&mut expected, (1, 1), (1, 1, 4), 42.42, tid_two, date);
    let date = h_date(&actual, tid_three);
    pay(&mut expected, (1, 1), (1, 1, 7), 12.34, tid_three, date);
    row(&mut expected.customers, (1, 1, 7)).c_data = "7 1 1 1 1 12.34 | data of Bea PRIPRI".into();
    assert_eq!(get(&expected.warehouses, 1).w_ytd, 300_054.76);
    assert_eq!(get(&expected.districts, (1, 1)).d_ytd, 30_054.76);
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.5.2.2, "BC" customer: the new C_DATA is the history information followed by the old
/// C_DATA, cut at 500 characters (495 + 17 → 500: the old data loses its last 12 characters).
#[test]
fn payment_of_a_bad_credit_customer_truncates_c_data_to_500() {
    let mut t = Tpcc::start(population());
    let input = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(2),
        h_amount: 5.50,
    };
    let (tid, result): (_, PaymentResult) = t.commit(PAYMENT, &input);
    assert_eq!(result.c_id, 2);
    assert_eq!(result.c_balance, -15.50);

    let actual = t.state();
    let c_data = get(&actual.customers, (1, 1, 2)).c_data.to_string();
    let old = bob_data();
    assert_eq!(c_data.len(), 500);
    assert_eq!(&c_data[..17], "2 1 1 1 1 5.50 | ");
    assert_eq!(&c_data[17..], &old[..483]);

    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 1), (1, 1, 2), 5.50, tid, date);
    row(&mut expected.customers, (1, 1, 2)).c_data =
        text(format!("2 1 1 1 1 5.50 | {}", &old[..483]));
    assert_state(&actual, &expected);
    t.finish();
}

/// Clause 2.5.2.2, remote customer (C_W_ID ≠ W_ID): the paying warehouse and district (1/2)
/// get the YTD, the customer of warehouse 2 (found by last name in 2/1) the payment; warehouse 2
/// and its district are untouched; C_DATA and the history row name both: C_D_ID 1, C_W_ID 2,
/// D_ID 2, W_ID 1.
#[test]
fn payment_of_a_remote_customer() {
    let mut t = Tpcc::start(population());
    let input = PaymentInput {
        w_id: 1,
        d_id: 2,
        c_w_id: 2,
        c_d_id: 1,
        customer: CustomerSelector::LastName("ESEESE".into()),
        h_amount: 250.00,
    };
    let (tid, result): (_, PaymentResult) = t.commit(PAYMENT, &input);
    assert_eq!(
        result,
        PaymentResult {
            c_w_id: 2,
            c_d_id: 1,
            c_id: 1,
            c_balance: -260.00,
        }
    );

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 2), (2, 1, 1), 250.00, tid, date);
    row(&mut expected.customers, (2, 1, 1)).c_data =
        "1 1 2 2 1 250.00 | data of Dora ESEESE".into();
    let h = get(&expected.history, HISTORY_RUN_BASE + tid);
    assert_eq!(
        (h.h_c_id, h.h_c_d_id, h.h_c_w_id, h.h_d_id, h.h_w_id),
        (1, 1, 2, 2, 1)
    );
    assert_eq!(&*h.h_data, "Alpha    South");
    assert_eq!(get(&expected.warehouses, 1).w_ytd, 300_250.00);
    assert_eq!(get(&expected.warehouses, 2).w_ytd, 300_000.00);
    assert_eq!(get(&expected.districts, (1, 2)).d_ytd, 30_250.00);
    assert_state(&actual, &expected);
    t.finish();
}

//! Order-Status (clause 2.6.2.2).

use super::*;
use crate::payment::{h_date, pay};

/// Clause 2.6.2.2: the customer's balance, the order with the largest O_ID of the customer, its
/// carrier and its lines (all columns); read-only.
#[test]
fn order_status_returns_the_latest_order_of_the_customer() {
    let mut t = Tpcc::start(population());
    let status = |t: &Tpcc, customer: CustomerSelector| -> OrderStatusResult {
        let input = OrderStatusInput {
            w_id: 1,
            d_id: 1,
            customer,
        };
        t.commit(ORDER_STATUS, &input).1
    };
    let lines = |o| lines_of(&t.initial.order_lines, 1, 1, o);

    // Ann has orders 1 (delivered) and 3 (not): 3.
    assert_eq!(
        status(&t, CustomerSelector::Id(1)),
        OrderStatusResult {
            c_id: 1,
            c_balance: -10.0,
            o_id: Some(3),
            o_carrier_id: None,
            lines: lines(3),
        }
    );
    assert_eq!(lines(3).len(), 3);
    // Bob's only order is delivered by carrier 4.
    assert_eq!(
        status(&t, CustomerSelector::Id(2)),
        OrderStatusResult {
            c_id: 2,
            c_balance: -10.0,
            o_id: Some(2),
            o_carrier_id: Some(4),
            lines: lines(2),
        }
    );
    // By last name: Bea (c7, the 2nd of 3 PRIPRI by first name), order 4 with a remote line.
    assert_eq!(
        status(&t, CustomerSelector::LastName("PRIPRI".into())),
        OrderStatusResult {
            c_id: 7,
            c_balance: -10.0,
            o_id: Some(4),
            o_carrier_id: None,
            lines: lines(4),
        }
    );
    // Customers without orders: Zoe by id, Amy (1st of 2 ABLEABLE) by last name.
    assert_eq!(
        status(&t, CustomerSelector::Id(3)),
        OrderStatusResult {
            c_id: 3,
            c_balance: -10.0,
            o_id: None,
            o_carrier_id: None,
            lines: Vec::new(),
        }
    );
    assert_eq!(
        status(&t, CustomerSelector::LastName("ABLEABLE".into())),
        OrderStatusResult {
            c_id: 4,
            c_balance: -10.0,
            o_id: None,
            o_carrier_id: None,
            lines: Vec::new(),
        }
    );
    // The balance is read, not recomputed: after a payment it shows.
    let payment = PaymentInput {
        w_id: 1,
        d_id: 1,
        c_w_id: 1,
        c_d_id: 1,
        customer: CustomerSelector::Id(3),
        h_amount: 1.25,
    };
    let (tid, _): (_, PaymentResult) = t.commit(PAYMENT, &payment);
    assert_eq!(status(&t, CustomerSelector::Id(3)).c_balance, -11.25);

    let actual = t.state();
    let mut expected = t.initial.clone();
    let date = h_date(&actual, tid);
    pay(&mut expected, (1, 1), (1, 1, 3), 1.25, tid, date);
    assert_state(&actual, &expected);
    t.finish();
}

//! The open-loop driver against fake systems: a stall is charged to every operation that arrived
//! during it (no coordinated omission), gated arrivals wait without blocking the others, and the
//! arrival clock is a seeded function with the asked rate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};
use workloads::marketplace::driver::Done;
use workloads::open_loop::{ArrivalClock, Arrivals, OpenLoad, Target, drive};
use workloads::probes::Probes;

/// Completes every op 1 ms after its submission, and refuses every submission while stalled
/// (from `stall.0` to `stall.1` after it was made).
struct Stalling {
    made: Instant,
    stall: (Duration, Duration),
    in_flight: VecDeque<(u64, Instant)>,
    submitted: u64,
}

impl Stalling {
    fn new(stall: (Duration, Duration)) -> Self {
        Stalling {
            made: Instant::now(),
            stall,
            in_flight: VecDeque::new(),
            submitted: 0,
        }
    }
}

impl Probes for Stalling {}

impl Target for Stalling {
    type Op = u32;
    fn submit(&mut self, id: u64, _: &u32) -> Result<(), String> {
        let t = self.made.elapsed();
        if t >= self.stall.0 && t < self.stall.1 {
            return Err("stalled".into());
        }
        self.submitted += 1;
        self.in_flight.push_back((id, Instant::now()));
        Ok(())
    }
    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        std::thread::sleep(wait.min(Duration::from_micros(200)));
        let mut done = Vec::new();
        while let Some(&(id, at)) = self.in_flight.front() {
            if at.elapsed() < Duration::from_millis(1) {
                break;
            }
            self.in_flight.pop_front();
            done.push(Done::new(id, at.elapsed(), Ok(())));
        }
        done
    }
    fn fatal(&self) -> Option<String> {
        None
    }
}

fn load(rate: f64) -> OpenLoad {
    OpenLoad {
        rate,
        arrivals: Arrivals::Constant,
        seed: 7,
    }
}

#[test]
fn a_stall_is_charged_to_every_operation_that_arrived_during_it() {
    let mut system = Stalling::new((Duration::from_millis(1000), Duration::from_millis(2000)));
    let result = drive(
        &mut system,
        &load(1000.0),
        Duration::ZERO,
        Duration::from_millis(3000),
        &["op"],
        || (0u32, Vec::<u8>::new(), "op"),
        &mut |_, _| {},
    );
    let h = &result.per_type["op"].latency_us;
    // About 1,000 ops arrived during the stall; each waited from its arrival to the stall's
    // end. Those of its first half waited at least 500 ms. A driver that timed from its own
    // submission (coordinated omission) would report them at about 1 ms.
    let slow = h.count_between(500_000, u64::MAX);
    assert!(
        slow >= 400,
        "only {slow} ops were charged >= 500 ms for a 1 s stall (of {} recorded)",
        h.len()
    );
    assert!(h.value_at_quantile(0.99) >= 500_000);
    // Every arrival of the window is in the histogram, done in or after the window.
    let arrived = result.load.arrived;
    assert!(
        h.len() >= arrived * 95 / 100,
        "{} latencies for {arrived} arrivals",
        h.len()
    );
    assert_eq!(result.load.offered_tps.map(|r| r.round()), Some(1000.0));
}

#[test]
fn without_a_stall_latency_stays_at_the_systems_own() {
    let mut system = Stalling::new((Duration::MAX, Duration::MAX));
    let result = drive(
        &mut system,
        &load(500.0),
        Duration::from_millis(200),
        Duration::from_millis(1000),
        &["op"],
        || (0u32, Vec::<u8>::new(), "op"),
        &mut |_, _| {},
    );
    let h = &result.per_type["op"].latency_us;
    assert!(result.committed >= 400, "{} committed", result.committed);
    // 1 ms of service plus polling slack; far from any queueing.
    assert!(
        h.value_at_quantile(0.5) < 50_000,
        "{}",
        h.value_at_quantile(0.5)
    );
    assert_eq!(result.load.backlog_end, 0);
}

/// Holds every op until told; records the submission order.
struct Manual {
    order: Vec<u32>,
    ids: Vec<(u64, u32)>,
    release: bool,
}

impl Probes for Manual {}

impl Target for Manual {
    type Op = u32;
    fn submit(&mut self, id: u64, op: &u32) -> Result<(), String> {
        self.order.push(*op);
        self.ids.push((id, *op));
        Ok(())
    }
    fn poll(&mut self, wait: Duration) -> Vec<Done> {
        std::thread::sleep(wait.min(Duration::from_micros(200)));
        if !self.release {
            // Op 0 (gate 1) is held until ops 1..4 have been submitted around it.
            self.release = self.order.len() >= 4;
            let (held, go): (Vec<_>, Vec<_>) = self.ids.drain(..).partition(|(_, op)| *op == 0);
            self.ids = held;
            return go
                .into_iter()
                .map(|(id, _)| Done::new(id, Duration::from_micros(10), Ok(())))
                .collect();
        }
        self.ids
            .drain(..)
            .map(|(id, _)| Done::new(id, Duration::from_micros(10), Ok(())))
            .collect()
    }
    fn fatal(&self) -> Option<String> {
        None
    }
}

#[test]
fn a_gated_arrival_waits_for_its_gate_and_the_others_go_ahead() {
    // Ops 0 and 2 share gate 1; ops 1, 3, 4, 5 have none. Op 0 stays in flight until four
    // ops were submitted: 2 must wait for it, 1, 3 and 4 must not.
    let mut next = 0u32;
    let stream = || {
        let op = next;
        next += 1;
        let gates = if op == 0 || op == 2 {
            vec![1u8]
        } else {
            vec![]
        };
        (op, gates, "op")
    };
    let mut system = Manual {
        order: Vec::new(),
        ids: Vec::new(),
        release: false,
    };
    drive(
        &mut system,
        &load(200.0),
        Duration::ZERO,
        Duration::from_millis(60),
        &["op"],
        stream,
        &mut |_, _| {},
    );
    let pos = |op: u32| system.order.iter().position(|o| *o == op);
    let (Some(p2), Some(p3), Some(p4)) = (pos(2), pos(3), pos(4)) else {
        panic!("ops 2, 3, 4 were all submitted: {:?}", system.order);
    };
    assert!(p3 < p2 && p4 < p2, "order {:?}", system.order);
}

#[test]
fn arrivals_are_seeded_and_have_the_asked_rate() {
    let times = |arrivals: Arrivals, seed: u64| {
        let mut c = ArrivalClock::new(&OpenLoad {
            rate: 2000.0,
            arrivals,
            seed,
        });
        let mut out = Vec::new();
        while let Some(t) = c.due(Duration::from_secs(10)) {
            out.push(t);
        }
        out
    };
    let a = times(Arrivals::Poisson, 1);
    assert_eq!(a, times(Arrivals::Poisson, 1));
    assert_ne!(a, times(Arrivals::Poisson, 2));
    // 20,000 expected; a Poisson count's sd is about 141.
    assert!((19_400..=20_600).contains(&a.len()), "{}", a.len());
    let c = times(Arrivals::Constant, 1);
    assert_eq!(c.len(), 20_000);
    let gaps: Vec<u128> = c.windows(2).map(|w| (w[1] - w[0]).as_micros()).collect();
    assert!(gaps.iter().all(|g| (499..=501).contains(g)));
}

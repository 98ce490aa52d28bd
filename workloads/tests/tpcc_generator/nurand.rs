//! Last names (clause 4.3.2.3) and NURand with its constants (clause 2.1.6).

use super::*;

#[test]
fn last_name_concatenates_the_syllables_of_three_digits() {
    assert_eq!(last_name(0), "BARBARBAR");
    assert_eq!(last_name(371), "PRICALLYOUGHT");
    assert_eq!(last_name(999), "EINGEINGEING");
    assert_eq!(last_name(40), "BARPRESBAR");
    let all: HashSet<String> = (0..1_000).map(last_name).collect();
    assert_eq!(all.len(), 1_000, "the names of 0..=999 are distinct");
}

/// Shares of the most frequent tenth of values in `n` draws of NURand(a, x, y).
fn top_tenth_share(a: u32, c: u32, x: u32, y: u32, n: usize) -> f64 {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut counts = vec![0usize; (y - x + 1) as usize];
    for _ in 0..n {
        let v = nurand(&mut rng, a, c, x, y);
        assert!((x..=y).contains(&v), "NURand({a}, {x}, {y}) gave {v}");
        counts[(v - x) as usize] += 1;
    }
    counts.sort_unstable_by(|p, q| q.cmp(p));
    let top = counts.len().div_ceil(10);
    counts[..top].iter().sum::<usize>() as f64 / n as f64
}

#[test]
fn nurand_stays_in_range_and_is_non_uniform() {
    // Uniform draws would give the top tenth of values about 10% (a little more by chance).
    let c_id = top_tenth_share(1023, 259, 1, 3_000, 300_000);
    let ol_i_id = top_tenth_share(8191, 7_911, 1, 100_000, 1_000_000);
    let c_last = top_tenth_share(255, 223, 0, 999, 100_000);
    for (what, share) in [("c_id", c_id), ("ol_i_id", ol_i_id), ("c_last", c_last)] {
        assert!(share > 0.2, "{what}: top tenth share {share}");
    }
    // Scaled down (as the input generator does for small tables) it stays skewed.
    let small = top_tenth_share(scaled_a(1023, 1, 30), 5, 1, 30, 30_000);
    assert!(small > 0.15, "c_id over 30 customers: {small}");
    // x = y.
    assert_eq!(top_tenth_share(0, 3, 1, 1, 10), 1.0);
}

#[test]
fn scaled_a_is_unchanged_at_the_specs_scale() {
    assert_eq!(scaled_a(255, 0, 999), 255);
    assert_eq!(scaled_a(1023, 1, 3_000), 1023);
    assert_eq!(scaled_a(8191, 1, 100_000), 8191);
    assert_eq!(scaled_a(1023, 1, 30), 15);
    assert_eq!(scaled_a(8191, 1, 1_000), 511);
    assert_eq!(scaled_a(255, 0, 29), 15);
    assert_eq!(scaled_a(255, 0, 31), 31);
    assert_eq!(scaled_a(1023, 1, 1), 0);
    assert_eq!(scaled_a(1023, 1, 2), 1);
}

#[test]
fn nurand_constants_obey_the_c_last_delta_rule() {
    let mut loads = HashSet::new();
    for seed in 0..500 {
        let (load, run) = (NuRandConstants::load(seed), NuRandConstants::run(seed));
        assert_eq!(load, NuRandConstants::load(seed));
        assert!(load.c_last <= 255 && run.c_last <= 255);
        assert!(load.c_id <= 1023 && run.c_id <= 1023);
        assert!(load.ol_i_id <= 8191 && run.ol_i_id <= 8191);
        let delta = load.c_last.abs_diff(run.c_last);
        assert!(
            (65..=119).contains(&delta) && delta != 96 && delta != 112,
            "seed {seed}: {load:?} {run:?}"
        );
        loads.insert(load.c_last);
    }
    assert!(loads.len() > 100, "C_LAST(load) varies with the seed");
    assert!(NuRandConstants::valid_c_last_delta(10, 75));
    assert!(!NuRandConstants::valid_c_last_delta(200, 104));
    assert!(!NuRandConstants::valid_c_last_delta(0, 64));
    assert!(!NuRandConstants::valid_c_last_delta(0, 120));
    let g = TpccInputGenerator::new(&TpccScale::small(1), TpccMix::standard(), 42);
    assert_eq!(g.constants(), NuRandConstants::run(42));
}

//! The TPC-C generators: the initial population's cardinalities, values and consistency
//! (clauses 4.3.3.1 and 3.3.2, conditions 1–4) as a function of the seed; last names and NURand
//! (clauses 4.3.2.3, 2.1.6); the input stream's mix, remote rates, customer selection, terminal
//! homes, distinct items, and that every customer it names exists.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;
use vmodb::Entity;
use workloads::tpcc::TpccState;
use workloads::tpcc::generator::{
    LOAD_TIME, NuRandConstants, SPEC_ROLLBACK_PERCENT, TPCC_KINDS, TpccInputGenerator, TpccMix,
    TpccOp, TpccScale, last_name, nurand, populate, scaled_a, terminal_home, unused_item,
};
use workloads::tpcc::model::*;

mod inputs;
mod nurand;
mod population;

fn strictly_sorted<E: Entity>(rows: &[E]) -> bool {
    rows.windows(2).all(|w| w[0].key() < w[1].key())
}

fn d_count(scale: &TpccScale) -> usize {
    scale.warehouses as usize * usize::from(DISTRICTS)
}

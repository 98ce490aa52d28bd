//! vbench: runs workloads on vmodb and the baseline.
fn main() {
    eprintln!("vbench: no workload is wired up yet");
    std::process::exit(2);
}

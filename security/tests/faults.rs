//! Fault injection as a test: the user always gets a clear answer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_fault_gets_a_clear_answer() {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_giponext-security"));
    let report = giponext_security::run_faults(exe).await;
    println!("{}", report.blocks());
    assert!(report.rows().len() >= 25, "{}", report.blocks());
    assert!(report.all_pass(), "{}", report.blocks());
}

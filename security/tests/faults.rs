//! Fault injection as a test: the user always gets a clear answer.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_injected_fault_gets_a_clear_answer() {
    let report = giponext_security::run_faults().await;
    assert!(report.rows().len() >= 10, "{}", report.table());
    assert!(report.all_pass(), "{}", report.table());
}

//! The attack matrix as a test: every case must hold.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attack_of_the_matrix_holds() {
    let report = giponext_security::run_matrix().await;
    let rows = report.rows();
    assert!(
        rows.len() >= 40,
        "only {} cases ran:\n{}",
        rows.len(),
        report.table()
    );
    assert!(report.all_pass(), "{}", report.table());
}

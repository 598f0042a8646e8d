// Copyright 2019 TiKV Project Authors. Licensed under Apache-2.0.
// Copied from the `fail` crate 0.5.1 (crates.io), the `test_setup_and_teardown` unit test of
// src/lib.rs (it uses only the public API). The only change: the imports, which were
// `use super::*;` (fail's lib.rs imports) and `use std::sync::*;`.
use chaoskit::fail::*;
use chaoskit::fail_point;
use std::sync::*;
use std::time::*;
use std::{env, thread};

// This case should be tested as integration case, but when calling `teardown` other cases
// like `test_pause` maybe also affected, so it's better keep it here.
#[test]
#[cfg_attr(not(feature = "failpoints"), ignore)]
fn test_setup_and_teardown() {
    let f1 = || {
        fail_point!("setup_and_teardown1", |_| 1);
        0
    };
    let f2 = || {
        fail_point!("setup_and_teardown2", |_| 2);
        0
    };
    env::set_var("FAILPOINTS", "setup_and_teardown1=return;setup_and_teardown2=pause;");
    let scenario = FailScenario::setup();
    assert_eq!(f1(), 1);

    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        tx.send(f2()).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err());

    scenario.teardown();
    assert_eq!(rx.recv_timeout(Duration::from_millis(500)).unwrap(), 0);
    assert_eq!(f1(), 0);
}

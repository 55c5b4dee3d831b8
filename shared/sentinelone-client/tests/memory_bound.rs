//! placeholder until the client exists
#[test]
fn placeholder_compiles() {}

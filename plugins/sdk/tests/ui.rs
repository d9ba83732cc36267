//! Compile-fail tests of `#[filter]`, `#[transform]` and `#[router]`: each
//! mistake is an error at the user's code that says what is expected.
//! The `.stderr` files are rustc's output; after a deliberate change of a
//! message or of the toolchain, refresh them with `TRYBUILD=overwrite`.

#[test]
fn attribute_errors_point_at_the_mistake() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass_*.rs");
    cases.compile_fail("tests/ui/fail_*.rs");
}

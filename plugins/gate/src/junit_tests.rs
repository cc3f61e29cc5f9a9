use super::*;

fn outcomes(cases: &[Case]) -> Vec<(&str, &str, String)> {
    cases
        .iter()
        .map(|c| {
            let outcome = match &c.outcome {
                Outcome::Passed => "passed".to_string(),
                Outcome::Failed(m) => format!("failed: {m}"),
                Outcome::Error(m) => format!("error: {m}"),
                Outcome::Skipped(m) => format!("skipped: {m}"),
            };
            (c.suite.as_str(), c.name.as_str(), outcome)
        })
        .collect()
}

#[test]
fn pytest_with_files_lines_an_error_a_skip_and_entities() {
    let cases = parse(include_str!("../fixtures/pytest.xml"), "pytest.xml").unwrap();
    assert_eq!(
        outcomes(&cases),
        [
            ("pytest", "test_healthz", "passed".to_string()),
            (
                "pytest",
                "test_metrics_counts_errors",
                "failed: AssertionError: assert 1 == 2\n +  where 1 = metrics()".to_string()
            ),
            ("pytest", "test_slow_path", "skipped: needs a database".to_string()),
            (
                "pytest",
                "test_connect",
                "error: failed on setup with \"ConnectionRefusedError: [Errno 111] Connection refused\""
                    .to_string()
            ),
            ("pytest", "test_index[utf-8 é]", "passed".to_string()),
        ]
    );
    assert_eq!(cases[1].location().as_deref(), Some("tests/test_app.py:15"));
    assert_eq!(cases[1].classname, "tests.test_app");
    assert_eq!(cases[1].time, 0.006);
}

#[test]
fn surefire_bare_testsuite_with_cdata_and_a_flaky_test_that_passed() {
    let cases = parse(include_str!("../fixtures/surefire.xml"), "surefire.xml").unwrap();
    assert_eq!(
        outcomes(&cases),
        [
            ("com.example.shop.CartTest", "addsItems", "passed".to_string()),
            (
                "com.example.shop.CartTest",
                "totalIncludesTax",
                "failed: expected: <107.00> but was: <100.00>".to_string()
            ),
            ("com.example.shop.CartTest", "removesItems", "passed".to_string()),
            (
                "com.example.shop.CartTest",
                "appliesCoupon",
                "skipped: coupons are off in this release".to_string()
            ),
        ]
    );
    assert_eq!(cases[1].location(), None);
}

#[test]
fn jest_junit_messages_come_from_the_failure_text() {
    let cases = parse(include_str!("../fixtures/jest-junit.xml"), "jest.xml").unwrap();
    assert_eq!(
        outcomes(&cases),
        [
            ("cart", "cart adds an item", "passed".to_string()),
            (
                "cart",
                "cart applies a coupon",
                "failed: Error: expect(received).toBe(expected) // Object.is equality".to_string()
            ),
            ("format", "format prints cents", "passed".to_string()),
        ]
    );
}

#[test]
fn go_junit_report_with_a_build_error_and_a_skip() {
    let cases = parse(include_str!("../fixtures/go-junit-report.xml"), "go.xml").unwrap();
    assert_eq!(
        outcomes(&cases),
        [
            ("example.com/shop/cart", "TestAdd", "passed".to_string()),
            ("example.com/shop/cart", "TestTotal/with_tax", "failed: Failed".to_string()),
            ("example.com/shop/cart", "TestSlow", "skipped: Skipped".to_string()),
            ("example.com/shop/api", "[build failed]", "error: Build error".to_string()),
        ]
    );
}

#[test]
fn nextest_failure_with_reruns_and_apos_entities() {
    let cases = parse(include_str!("../fixtures/nextest.xml"), "nextest.xml").unwrap();
    assert_eq!(
        outcomes(&cases),
        [
            ("shop::cart", "tests::adds_items", "passed".to_string()),
            (
                "shop::cart",
                "tests::total_includes_tax",
                "failed: thread 'tests::total_includes_tax' panicked at src/cart.rs:88:9:".to_string()
            ),
            ("shop::bin/shop", "serves_healthz", "passed".to_string()),
        ]
    );
}

#[test]
fn malformed_reports_name_the_file_line_and_column() {
    let err =
        parse("<testsuite name=\"a\">\n  <testcase name=\"x\">\n  </testsuite>\n", "r.xml").err().unwrap();
    assert!(
        err.message().starts_with("r.xml:3:3: malformed report: not well-formed XML"),
        "{}",
        err.message()
    );
    let err = parse("<testsuite>\n  <testcase classname=\"a\"/>\n</testsuite>", "r.xml").err().unwrap();
    assert_eq!(err.message(), "r.xml:2:3: malformed report: <testcase> has no `name` attribute");
    let err =
        parse("<testsuite>\n <testcase name=\"t\" time=\"fast\"/>\n</testsuite>", "r.xml").err().unwrap();
    assert_eq!(err.message(), "r.xml:2:2: malformed report: <testcase> time=\"fast\" is not a number");
    let err = parse("<?xml version=\"1.0\"?>\n<coverage/>", "r.xml").err().unwrap();
    assert_eq!(
        err.message(),
        "r.xml:2:1: malformed report: the root element is <coverage>, not <testsuites> or <testsuite>: not a JUnit report"
    );
}

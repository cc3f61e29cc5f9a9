//! The jenkins plugin end to end: the real `sluice` binary runs `jenkins.build` against the
//! Jenkins double on 127.0.0.1 (support_tickets/jenkins.rs): the crumb fetched after a 403, the
//! queue item followed while it waits, the console streamed line by line as it grows, the
//! result judged (UNSTABLE, FAILURE, ABORTED), the build stopped at `buildTimeout` (and by the
//! host when the task's `timeout` stops the task first, or when `sluice server` kills the
//! execution), a queue item on a non-granted origin denied before any byte, and the API token in
//! no log, output or file.

#![allow(clippy::unwrap_used)]

#[path = "support_tickets/jenkins.rs"]
mod jenkins;
// `sluice server` for the kill; support_tickets has the rest of `common` already.
#[path = "common/server.rs"]
mod server;
mod support_tickets;

use std::time::{Duration, Instant};

use jenkins::{CRUMB, Jenkins, Job, Options, SESSION};
use serde_json::json;
use server::Server as SluiceServer;
use support_tickets::flows::{Env, basic, run_of, task_lines};
use support_tickets::http::Server;

const USER: &str = "ci";
const TOKEN: &str = "11aa22bb33cc44dd55ee66ff77";
const SECRET_ENV: [(&str, &str); 1] = [("SLUICE_SECRET_JENKINS_TOKEN", TOKEN)];

/// The console of the deploy job, cut mid-line across polls.
const CONSOLE: [&str; 4] =
    ["Started by user ci\n", "+ make test\nok 1 - bui", "lds\nok 2 - deploys\n", "Finished: UNSTABLE\n"];

fn deploy_job() -> Job {
    Job {
        parameterized: true,
        queue: vec!["Waiting for next available executor", "Waiting for next available executor on linux"],
        artifacts: vec!["target/app.jar", "reports/junit.xml"],
        duration: 4321,
        ..Job::new(&CONSOLE, "UNSTABLE")
    }
}

fn start(jobs: Vec<(&str, Job)>, options: Options) -> Jenkins {
    Jenkins::start(basic(USER, TOKEN), jobs, options)
}

/// A one-task flow `build` of `job` with `extra` config lines.
fn flow(jenkins: &Jenkins, job: &str, extra: &str) -> String {
    format!(
        "id: ci\nnamespace: t\ntasks:\n  - id: build\n    type: jenkins.build\n    url: {}\n    job: {job}\n    username: {USER}\n    apiToken: \"{{{{ secret('JENKINS_TOKEN') }}}}\"\n    pollInterval: 100ms\n    allow:\n      secrets: [JENKINS_TOKEN]\n{extra}",
        jenkins.url()
    )
}

#[test]
fn a_parameterized_build_in_folders_gets_a_crumb_waits_in_the_queue_and_streams_its_console() {
    let env = Env::new();
    let jenkins =
        start(vec![("team/app/deploy", deploy_job())], Options { csrf: true, ..Options::default() });
    let yaml = flow(
        &jenkins,
        "team/app/deploy",
        "    parameters:\n      VERSION: 1.4.2 rc\n      DRY_RUN: false\n      REPLICAS: 3\n    allowUnstable: true\n",
    );
    let (code, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    let build_url = format!("{}/job/team/job/app/job/deploy/7/", jenkins.url());
    assert_eq!(
        doc["outputs"]["build"],
        json!({"number": 7, "url": build_url, "result": "UNSTABLE", "durationMs": 4321,
            "artifacts": ["target/app.jar", "reports/junit.xml"]})
    );

    let job = "/job/team/job/app/job/deploy";
    let mut offsets = vec![0];
    for chunk in &CONSOLE[..3] {
        offsets.push(offsets.last().unwrap() + chunk.len());
    }
    let mut expected = vec![
        format!("POST {job}/buildWithParameters"),
        "GET /crumbIssuer/api/json".to_string(),
        format!("POST {job}/buildWithParameters"),
        "GET /queue/item/1/api/json".to_string(),
        "GET /queue/item/1/api/json".to_string(),
        "GET /queue/item/1/api/json".to_string(),
    ];
    expected.extend(offsets.iter().map(|start| format!("GET {job}/7/logText/progressiveText?start={start}")));
    expected.push(format!(
        "GET {job}/7/api/json?tree=building%2Cresult%2Cduration%2Curl%2Cartifacts%5BrelativePath%5D"
    ));
    assert_eq!(jenkins.server.lines(), expected);
    let requests = jenkins.server.requests();
    for request in &requests {
        assert_eq!(request.header("authorization"), Some(basic(USER, TOKEN).as_str()));
    }
    // The crumb and its session go with the second POST only; the form body with both.
    assert_eq!(requests[0].header("jenkins-crumb"), None);
    assert_eq!(
        (requests[2].header("jenkins-crumb"), requests[2].header("cookie")),
        (Some(CRUMB), Some(SESSION))
    );
    for trigger in [&requests[0], &requests[2]] {
        assert_eq!(trigger.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(trigger.text(), "DRY_RUN=false&REPLICAS=3&VERSION=1.4.2%20rc");
    }
    let parameters: Vec<(&str, &str)> =
        vec![("DRY_RUN", "false"), ("REPLICAS", "3"), ("VERSION", "1.4.2 rc")];
    let got = jenkins.parameters(1);
    assert_eq!(got.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect::<Vec<_>>(), parameters);

    // The log: the crumb, the queue's reasons once each, the console line by line as it grew.
    let jenkins =
        start(vec![("team/app/deploy", deploy_job())], Options { csrf: true, ..Options::default() });
    let (code, stdout) = env.run_text(
        &flow(&jenkins, "team/app/deploy", "    parameters: {VERSION: '1'}\n    allowUnstable: true\n"),
        &SECRET_ENV,
    );
    assert_eq!(code, 0, "{stdout}");
    let stop = format!("{}/job/team/job/app/job/deploy/7/stop", jenkins.url());
    assert_eq!(
        task_lines(&stdout, "build"),
        [
            "Jenkins asked for a CSRF crumb; sending it in Jenkins-Crumb".to_string(),
            "triggered team/app/deploy: queue item 1".to_string(),
            // What the host would send if the task were stopped, kept as the build goes on.
            format!(
                "cleanup: registered POST {}/queue/cancelItem (sent if the run is stopped)",
                jenkins.url()
            ),
            "waiting in the queue: Waiting for next available executor".to_string(),
            "waiting in the queue: Waiting for next available executor on linux".to_string(),
            format!("cleanup: registered POST {stop} (sent if the run is stopped)"),
            format!("cleanup: cancelled POST {}/queue/cancelItem", jenkins.url()),
            format!("started team/app/deploy #7: {}/job/team/job/app/job/deploy/7/", jenkins.url()),
            "Started by user ci".to_string(),
            "+ make test".to_string(),
            "ok 1 - builds".to_string(),
            "ok 2 - deploys".to_string(),
            "Finished: UNSTABLE".to_string(),
            format!("cleanup: cancelled POST {stop}"),
            "team/app/deploy #7 ended UNSTABLE (allowed)".to_string(),
        ]
    );
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn unstable_fails_without_allow_unstable_and_a_429_on_the_queue_is_honoured() {
    let env = Env::new();
    let job =
        Job { artifacts: vec!["out.txt"], ..Job::new(&["built\n", "Finished: UNSTABLE\n"], "UNSTABLE") };
    let jenkins = start(vec![("solo", job)], Options { throttle_queue: true, ..Options::default() });
    let (code, doc) = env.run_json(&flow(&jenkins, "solo", ""), &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "build")["error"],
        format!(
            "failed: solo #7 ended UNSTABLE (set `allowUnstable: true` to accept it): {}/job/solo/7/",
            jenkins.url()
        )
    );
    let lines = jenkins.server.lines();
    assert_eq!(
        lines[..5],
        [
            "POST /job/solo/build",
            "GET /queue/item/1/api/json",
            "GET /queue/item/1/api/json",
            "GET /job/solo/7/logText/progressiveText?start=0",
            "GET /job/solo/7/logText/progressiveText?start=6",
        ]
    );
    let requests = jenkins.server.requests();
    // A bodiless POST says so; the 429's Retry-After (1 s) was waited out.
    assert_eq!((requests[0].header("content-length"), requests[0].header("content-type")), (Some("0"), None));
    assert!(requests[2].at - requests[1].at >= Duration::from_secs(1), "Retry-After: 1 was not honoured");
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn failure_and_aborted_fail_the_task_even_with_allow_unstable() {
    let env = Env::new();
    let failed = Job::new(&["+ make test\n", "not ok 3 - deploys\n", "Finished: FAILURE\n"], "FAILURE");
    let aborted = Job::new(&["waiting for input\n", "Aborted by admin\n", "Finished: ABORTED\n"], "ABORTED");
    let jenkins = start(vec![("solo", failed), ("team/manual", aborted)], Options::default());

    // `allowUnstable` accepts UNSTABLE only: a FAILURE still fails the task.
    let (code, stdout) = env.run_text(&flow(&jenkins, "solo", "    allowUnstable: true\n"), &SECRET_ENV);
    assert_eq!(code, 1, "{stdout}");
    let (url, stop) = (jenkins.url(), format!("{}/job/solo/7/stop", jenkins.url()));
    assert_eq!(
        task_lines(&stdout, "build"),
        [
            "triggered solo: queue item 1".to_string(),
            format!("cleanup: registered POST {url}/queue/cancelItem (sent if the run is stopped)"),
            format!("cleanup: registered POST {stop} (sent if the run is stopped)"),
            format!("cleanup: cancelled POST {url}/queue/cancelItem"),
            format!("started solo #7: {url}/job/solo/7/"),
            "+ make test".to_string(),
            "not ok 3 - deploys".to_string(),
            "Finished: FAILURE".to_string(),
            format!("cleanup: cancelled POST {stop}"),
            format!("task build: failed: solo #7 ended FAILURE: {url}/job/solo/7/"),
        ]
    );
    let (code, doc) = env.run_json(&flow(&jenkins, "solo", "    allowUnstable: true\n"), &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    let run = run_of(&doc, "build");
    assert_eq!(run["state"], "FAILED");
    assert_eq!(run["error"], format!("failed: solo #8 ended FAILURE: {}/job/solo/8/", jenkins.url()));
    assert_eq!(doc["outputs"].get("build"), None, "{doc:#}");

    let mut seen = jenkins.server.lines();
    jenkins.server.clear();

    // A build aborted in Jenkins (not by the task) ends the task with the build's result.
    let (code, doc) = env.run_json(&flow(&jenkins, "team/manual", ""), &SECRET_ENV);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        run_of(&doc, "build")["error"],
        format!("failed: team/manual #9 ended ABORTED: {}/job/team/job/manual/9/", jenkins.url())
    );
    assert_eq!(
        jenkins.server.lines(),
        [
            "POST /job/team/job/manual/build",
            "GET /queue/item/3/api/json",
            "GET /job/team/job/manual/9/logText/progressiveText?start=0",
            "GET /job/team/job/manual/9/logText/progressiveText?start=18",
            "GET /job/team/job/manual/9/logText/progressiveText?start=35",
            "GET /job/team/job/manual/9/api/json?tree=building%2Cresult%2Cduration%2Curl%2Cartifacts%5BrelativePath%5D",
        ]
    );
    // The builds ended by themselves: the task stopped none of them.
    seen.extend(jenkins.server.lines());
    assert!(!seen.iter().any(|l| l.ends_with("/stop") || l.contains("cancelItem")), "{seen:?}");
    assert!(!(7..=9).any(|number| jenkins.stopped(number)));
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn refusals_missing_jobs_and_cancelled_queue_items_fail_clearly() {
    let env = Env::new();
    // No crumb issuer (CSRF protection off): the 403 is about permissions and is reported.
    let jenkins =
        start(vec![("solo", Job::new(&[], "SUCCESS"))], Options { forbid_build: true, ..Options::default() });
    let (_, doc) = env.run_json(&flow(&jenkins, "solo", ""), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "build")["error"],
        "failed: triggering solo: Jenkins answered HTTP 403 (the user lacks the permission, or the CSRF crumb was refused): Error 403 ci is missing the Job/Build permission"
    );
    assert_eq!(jenkins.server.lines(), ["POST /job/solo/build", "GET /crumbIssuer/api/json"]);

    let cancelled =
        Job { queue: vec!["Build #6 is already in progress"], cancelled: true, ..Job::new(&[], "SUCCESS") };
    let jenkins = start(vec![("a/b c/solo", cancelled)], Options::default());
    let (_, doc) = env.run_json(&flow(&jenkins, "a/b c/solo", ""), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "build")["error"],
        "failed: the build of a/b c/solo was cancelled in Jenkins' queue (queue item 1) before it started"
    );
    assert_eq!(
        jenkins.server.lines(),
        ["POST /job/a/job/b%20c/job/solo/build", "GET /queue/item/1/api/json", "GET /queue/item/1/api/json"]
    );

    let (_, doc) = env.run_json(&flow(&jenkins, "nope", ""), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "build")["error"],
        format!(
            "failed: triggering nope: Jenkins has no job at {}/job/nope/build (HTTP 404; check `job`, and that `username` may see it)",
            jenkins.url()
        )
    );
    let (_, doc) = env.run_json(&flow(&jenkins, "a/b c/solo", "    parameters: {X: 1}\n"), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "build")["error"],
        "failed: triggering a/b c/solo: Jenkins answered HTTP 500: java.lang.IllegalStateException: a/b c/solo is not parameterized"
    );
    let (_, doc) =
        env.run_json(&flow(&jenkins, "solo", ""), &[("SLUICE_SECRET_JENKINS_TOKEN", "wrong-jenkins-token")]);
    assert_eq!(
        run_of(&doc, "build")["error"],
        "failed: triggering solo: Jenkins answered HTTP 401 (check `username` and `apiToken`): Error 401 Invalid password/token for user: ci"
    );
    env.assert_secret_nowhere(TOKEN);
    env.assert_secret_nowhere("wrong-jenkins-token");
}

#[test]
fn past_build_timeout_the_task_stops_the_build_or_cancels_the_queue_item() {
    let env = Env::new();
    let endless = Job { endless: true, ..Job::new(&["working\n"], "SUCCESS") };
    let stuck = Job {
        queue: vec!["Waiting for next available executor"],
        queue_forever: true,
        ..Job::new(&[], "SUCCESS")
    };
    let jenkins =
        start(vec![("forever", endless), ("stuck", stuck)], Options { csrf: true, ..Options::default() });
    let (code, doc) = env.run_json(&flow(&jenkins, "forever", "    buildTimeout: 1500ms\n"), &SECRET_ENV);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "build")["error"],
        "failed: forever #7 was still running after `buildTimeout` (1s 500ms); stopped it"
    );
    assert!(jenkins.stopped(7));
    let stop =
        jenkins.server.requests().into_iter().find(|r| r.line() == "POST /job/forever/7/stop").unwrap();
    assert_eq!(stop.header("jenkins-crumb"), Some(CRUMB));

    let (_, doc) = env.run_json(&flow(&jenkins, "stuck", "    buildTimeout: 1s\n"), &SECRET_ENV);
    assert_eq!(
        run_of(&doc, "build")["error"],
        "failed: stuck was still waiting in Jenkins' queue at the task's `buildTimeout`; the queue item 2 was cancelled"
    );
    assert!(jenkins.cancelled(2));
    assert_eq!(jenkins.server.lines().last().unwrap(), "POST /queue/cancelItem?id=2");
}

#[test]
fn when_the_tasks_timeout_stops_it_the_host_stops_the_build() {
    let env = Env::new();
    let endless = Job { endless: true, ..Job::new(&["working\n"], "SUCCESS") };
    let jenkins = start(vec![("forever", endless)], Options { csrf: true, ..Options::default() });
    // The task's own `timeout` comes long before `buildTimeout` (1h by default): the host ends
    // the component, then sends the stop the task registered.
    let (code, stdout) = env.run_text(&flow(&jenkins, "forever", "    timeout: 3s\n"), &SECRET_ENV);
    assert_eq!(code, 1, "{stdout}");
    let stops: Vec<_> =
        jenkins.server.requests().into_iter().filter(|r| r.line().ends_with("/stop")).collect();
    assert_eq!(stops.len(), 1, "{:?}", jenkins.server.lines());
    let stop = &stops[0];
    let number: u64 =
        stop.line().trim_start_matches("POST /job/forever/").trim_end_matches("/stop").parse().unwrap();
    assert!(jenkins.stopped(number));
    assert_eq!(stop.header("authorization"), Some(basic(USER, TOKEN).as_str()));
    assert_eq!(stop.header("jenkins-crumb"), Some(CRUMB));
    assert!(stop.header("cookie").is_some_and(|c| c.contains(SESSION)), "{:?}", stop.header("cookie"));
    // The queue item's cancel was registered too, and cancelled once the build started.
    assert!(!jenkins.server.lines().iter().any(|l| l.starts_with("POST /queue/cancelItem")));
    let sent = format!("cleanup: POST {}/job/forever/{number}/stop → 302", jenkins.url());
    assert!(task_lines(&stdout, "build").contains(&sent), "{stdout}");
    env.assert_secret_nowhere(TOKEN);

    // A build that ends by itself sends no stop.
    let short = Job { queue: Vec::new(), ..Job::new(&["done\n"], "SUCCESS") };
    let jenkins = start(vec![("short", short)], Options::default());
    let (code, doc) = env.run_json(&flow(&jenkins, "short", "    timeout: 30s\n"), &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    assert!(!jenkins.server.lines().iter().any(|l| l.ends_with("/stop") || l.contains("cancelItem")));
}

/// `POST /executions/{id}/kill` under `sluice server` while the build runs: the execution ends
/// KILLED and the host sends the stop the task registered, with its auth, crumb and session.
#[tokio::test(flavor = "multi_thread")]
async fn killing_the_execution_stops_the_running_build() {
    let env = Env::new();
    let endless = Job { endless: true, ..Job::new(&["working\n"], "SUCCESS") };
    let jenkins = start(vec![("forever", endless)], Options { csrf: true, ..Options::default() });
    let server = SluiceServer::start_with(env.data.path(), &[], &SECRET_ENV);
    let (status, saved) = server.post("/api/v1/flows", &flow(&jenkins, "forever", "")).await;
    assert_eq!(status, 201, "{saved}");
    let (status, started) = server.post("/api/v1/executions/t/ci", "").await;
    assert_eq!(status, 202, "{started}");
    let id = started["executionId"].as_str().unwrap().to_owned();

    // Once the console is read, the build runs and its stop is registered with the host.
    let console = "GET /job/forever/7/logText/progressiveText?start=0";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !jenkins.server.lines().iter().any(|line| line == console) {
        assert!(Instant::now() < deadline, "the build never started: {:?}", jenkins.server.lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!jenkins.stopped(7));
    let (status, _) = server.post(&format!("/api/v1/executions/{id}/kill"), "").await;
    assert_eq!(status, 202);
    let killed = server.wait_for_state(&id, "KILLED").await;
    assert_eq!(run_of(&killed, "build")["state"], "KILLED", "{killed:#}");

    // The host sends the stop as the run ends (in the background once the run is dropped).
    let deadline = Instant::now() + Duration::from_secs(15);
    while !jenkins.stopped(7) {
        assert!(Instant::now() < deadline, "no stop came: {:?}", jenkins.server.lines());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests = jenkins.server.requests();
    let stops: Vec<_> =
        requests.iter().filter(|r| r.method == "POST" && r.path().ends_with("/stop")).collect();
    assert_eq!(stops.iter().map(|r| r.line()).collect::<Vec<_>>(), ["POST /job/forever/7/stop"]);
    let stop = stops[0];
    assert_eq!(stop.header("authorization"), Some(basic(USER, TOKEN).as_str()));
    assert_eq!((stop.header("jenkins-crumb"), stop.header("cookie")), (Some(CRUMB), Some(SESSION)));
    // The queue item's cancel was dropped when the build started: it is not sent.
    assert!(!requests.iter().any(|r| r.path() == "/queue/cancelItem"), "{:?}", jenkins.server.lines());
    server.terminate();
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn a_queue_item_on_a_non_granted_origin_is_denied_before_any_byte_reaches_it() {
    let env = Env::new();
    let elsewhere = Server::start(|_| support_tickets::http::Reply::new(500));
    let jenkins = start(
        vec![("solo", Job::new(&["x\n"], "SUCCESS"))],
        Options { root: Some(elsewhere.url()), ..Options::default() },
    );
    let (code, doc) = env.run_json(&flow(&jenkins, "solo", ""), &SECRET_ENV);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "build")["error"],
        format!(
            "denied: following queue item 1 at {0}/queue/item/1/ (Jenkins' root URL, set in Manage Jenkins > System, is another origin than `url`, so the request carries no credentials): outbound HTTP to {0} was refused by the host: grant it in the task's `allow.network`",
            elsewhere.url()
        )
    );
    assert_eq!(elsewhere.connections(), 0);
    assert_eq!(jenkins.server.lines(), ["POST /job/solo/build"]);

    // Granted, the other origin gets the request, but not the credentials.
    let granted = flow(&jenkins, "solo", "").replace(
        "      secrets: [JENKINS_TOKEN]\n",
        &format!("      secrets: [JENKINS_TOKEN]\n      network: ['{}']\n", elsewhere.url()),
    );
    let (code, doc) = env.run_json(&granted, &SECRET_ENV);
    assert_eq!(code, 1);
    assert_eq!(
        run_of(&doc, "build")["error"],
        format!(
            "failed: following queue item 2 at {0}/queue/item/2/ (Jenkins' root URL, set in Manage Jenkins > System, is another origin than `url`, so the request carries no credentials): Jenkins answered HTTP 500",
            elsewhere.url()
        )
    );
    let reached = elsewhere.requests();
    assert_eq!(reached.iter().map(|r| r.line()).collect::<Vec<_>>(), ["GET /queue/item/2/api/json"]);
    assert_eq!((reached[0].header("authorization"), reached[0].header("cookie")), (None, None));
    env.assert_secret_nowhere(TOKEN);
}

#[test]
fn defaults_of_a_parameterized_job_and_no_console() {
    let env = Env::new();
    let jenkins =
        start(vec![("team/app/deploy", Job { queue: Vec::new(), ..deploy_job() })], Options::default());
    let yaml = flow(
        &jenkins,
        "team/app/deploy",
        "    parameters: {}\n    console: false\n    allowUnstable: true\n",
    );
    let (code, doc) = env.run_json(&yaml, &SECRET_ENV);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["outputs"]["build"]["result"], "UNSTABLE");
    let job = "/job/team/job/app/job/deploy";
    let state =
        format!("GET {job}/7/api/json?tree=building%2Cresult%2Cduration%2Curl%2Cartifacts%5BrelativePath%5D");
    assert_eq!(
        jenkins.server.lines(),
        [
            format!("POST {job}/buildWithParameters"),
            "GET /queue/item/1/api/json".to_string(),
            state.clone(),
            state.clone(),
            state.clone(),
            state,
        ]
    );
    let trigger = &jenkins.server.requests()[0];
    assert_eq!((trigger.header("content-length"), trigger.body.len()), (Some("0"), 0));
}

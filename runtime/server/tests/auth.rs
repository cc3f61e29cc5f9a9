//! Auth on every route: a matrix of every route of `routes()` with no token, a bad token and a
//! token of each role over the route's namespace, another namespace and every namespace, each
//! answer checked against the route's declared access; and the parts around it (open until the
//! first token, expiry and revocation, the UI's session cookie, the audit entries requests
//! leave).

#![allow(clippy::unwrap_used)]

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use sluice_governance::audit;
use sluice_governance::{AuditFilter, GovernanceStore, Role};
use sluice_server::auth::Access;
use support::{Answer, Api, HELLO, api};

const NS: &str = "team";

fn team_flow() -> String {
    HELLO.replace("namespace: examples", &format!("namespace: {NS}"))
}

fn other_flow() -> String {
    HELLO.replace("namespace: examples", "namespace: other")
}

async fn call(api: &Api, method: &str, uri: &str, body: &str, token: Option<&str>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    api.send(request.body(Body::from(body.to_owned())).unwrap()).await
}

/// The whole response (headers included), where [`Api::send`] keeps the status and body.
async fn response(api: &Api, request: Request<Body>) -> axum::response::Response {
    use tower::ServiceExt;
    api.app.clone().oneshot(request).await.unwrap()
}

fn login_request(body: &Value) -> Request<Body> {
    Request::post("/api/v1/session").body(Body::from(body.to_string())).unwrap()
}

/// Makes a token through the API with `admin`'s token (None while the server is open).
async fn make_token(api: &Api, admin: Option<&str>, name: &str, grants: &[&str]) -> String {
    let body = json!({"name": name, "grants": grants}).to_string();
    let made = call(api, "POST", "/api/v1/tokens", &body, admin).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    made.json()["token"].as_str().unwrap().to_owned()
}

/// A server with flows in `team` and `other`, one finished execution of each, and the admin
/// token `root` (made while it was still open).
struct Fixture {
    api: Api,
    root: String,
    team_execution: String,
    other_execution: String,
}

async fn fixture() -> Fixture {
    let api = api().await;
    // Open: no token needed, for anything.
    for flow in [team_flow(), other_flow()] {
        let created = call(&api, "POST", "/api/v1/flows", &flow, None).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    }
    let run = |ns: &'static str| {
        let api = &api;
        async move {
            let done = call(api, "POST", &format!("/api/v1/executions/{ns}/hello?wait=true"), "", None).await;
            assert_eq!(done.status, StatusCode::OK, "{}", done.body);
            done.json()["executionId"].as_str().unwrap().to_owned()
        }
    };
    let team_execution = run(NS).await;
    let other_execution = run("other").await;
    let root = make_token(&api, None, "root", &["admin"]).await;
    Fixture { api, root, team_execution, other_execution }
}

/// What a caller gets from a route: through, or refused before the handler did anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Through,
    Unauthorized,
    Forbidden,
}

fn outcome(status: StatusCode) -> Outcome {
    match status {
        StatusCode::UNAUTHORIZED => Outcome::Unauthorized,
        StatusCode::FORBIDDEN => Outcome::Forbidden,
        _ => Outcome::Through,
    }
}

/// The session routes check the token they are given themselves (see the session test).
const SELF_CHECKED: [&str; 1] = ["/api/v1/session"];

/// The request the matrix sends to a route: its path filled in, a body that reaches the
/// namespace check, and the namespace the route acts in (None: a list or a global read).
fn request_for(route: &sluice_server::Route, execution: &str) -> (String, String, Option<&'static str>) {
    let mut path =
        route.path.replace("{namespace}", NS).replace("{flowId}", "hello").replace("{key}", "nokey");
    let mut namespace = path.contains("/team").then_some(NS);
    if path.starts_with("/api/v1/executions/{id}") {
        path = path.replace("{id}", execution);
        namespace = Some(NS);
    }
    path =
        path.replace("{id}", "hello").replace("/plugins/{name}", "/plugins/core").replace("{name}", "nobody");
    let body = match (route.method.as_str(), route.path) {
        ("POST", "/api/v1/flows") => {
            namespace = Some(NS);
            team_flow()
        }
        ("PUT", _) | ("POST", "/api/v1/flows/validate") => team_flow(),
        ("POST", "/api/v1/tokens") => json!({"name": "made-in-matrix", "grants": ["viewer"]}).to_string(),
        ("POST", p) if p.ends_with("/resume") => "{}".to_owned(),
        _ => String::new(),
    };
    (path, body, namespace)
}

/// What the route's access says a token with `grant` (role over pattern) gets.
fn expected(access: Access, namespace: Option<&str>, grant: (Role, &str)) -> Outcome {
    let (held, pattern) = grant;
    let covers = |ns: &str| pattern == "*" || pattern == ns;
    let allowed = match access {
        Access::Open | Access::Metrics => true,
        Access::Everywhere(role) => held >= role && pattern == "*",
        Access::InPath(role) | Access::InHandler(role) => held >= role && namespace.is_none_or(covers),
    };
    if allowed { Outcome::Through } else { Outcome::Forbidden }
}

/// Who the matrix sends as: a name, the token, and its one grant (role over pattern).
type Caller = (String, Option<String>, Option<(Role, &'static str)>);

#[tokio::test]
async fn every_route_answers_each_role_as_its_access_says() {
    let f = fixture().await;
    let mut callers: Vec<Caller> =
        vec![("no token".into(), None, None), ("an unknown token".into(), Some("sluice_nope".into()), None)];
    for role in Role::ALL {
        for pattern in [NS, "other", "*"] {
            let name = format!("{role}-{}", if pattern == "*" { "all" } else { pattern });
            let grant = format!("{role}:{pattern}");
            let token = make_token(&f.api, Some(&f.root), &name, &[&grant]).await;
            callers.push((name, Some(token), Some((role, pattern))));
        }
    }
    let mut checked = 0;
    for route in sluice_server::routes() {
        if SELF_CHECKED.contains(&route.path) {
            continue;
        }
        let (path, body, namespace) = request_for(&route, &f.team_execution);
        for (who, token, grant) in &callers {
            let answer = call(&f.api, route.method.as_str(), &path, &body, token.as_deref()).await;
            let want = match (grant, route.access) {
                (_, Access::Open | Access::Metrics) => Outcome::Through,
                (None, _) => Outcome::Unauthorized,
                (Some(grant), access) => expected(access, namespace, *grant),
            };
            assert_eq!(outcome(answer.status), want, "{} {path} with {who}: {}", route.method, answer.body);
            if want == Outcome::Unauthorized {
                let problem = answer.problem(401);
                assert_eq!(problem["title"], "Unauthorized");
            }
            if want == Outcome::Forbidden {
                let detail = answer.problem(403)["detail"].as_str().unwrap().to_owned();
                assert!(detail.contains(&format!("token:{who} may not do this")), "{detail}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 30 * 14, "{checked} requests");
}

#[tokio::test]
async fn an_open_server_needs_tokens_once_one_exists_and_says_how() {
    let f = fixture().await;
    let answer = f.api.get("/api/v1/flows").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let response = response(&f.api, Request::get("/api/v1/flows").body(Body::empty()).unwrap()).await;
    assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"sluice\"");
    assert_eq!(
        answer.problem(401)["detail"],
        "this server needs a token: send `Authorization: Bearer <token>` (an admin makes one with \
         `sluice token create`)"
    );
    // Health stays open, and so do webhooks (they check their own key).
    assert_eq!(f.api.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(f.api.get("/api/v1/webhooks/team/hello/nokey").await.status, StatusCode::NOT_FOUND);
    let bad = call(&f.api, "GET", "/api/v1/flows", "", Some("sluice_guess")).await;
    assert_eq!(bad.problem(401)["detail"], "the token is not one this server knows");
    let malformed = f.api.send(
        Request::get("/api/v1/flows")
            .header(header::AUTHORIZATION, "Basic YTpi")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(malformed.await.problem(401)["detail"], "the Authorization header is not `Bearer <token>`");
}

#[tokio::test]
async fn revoked_and_expired_tokens_are_refused_at_once() {
    let f = fixture().await;
    let ci = make_token(&f.api, Some(&f.root), "ci", &["viewer"]).await;
    assert_eq!(call(&f.api, "GET", "/api/v1/flows", "", Some(&ci)).await.status, StatusCode::OK);
    let revoked = call(&f.api, "DELETE", "/api/v1/tokens/ci", "", Some(&f.root)).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    let refused = call(&f.api, "GET", "/api/v1/flows", "", Some(&ci)).await;
    assert!(refused.problem(401)["detail"].as_str().unwrap().starts_with("token `ci` was revoked at "));
    let again = call(&f.api, "DELETE", "/api/v1/tokens/ci", "", Some(&f.root)).await;
    assert_eq!(again.problem(404)["detail"], "no live token named `ci`");

    // A token past its expiry (written behind the API's back, as time would make it).
    let now = chrono::Utc::now();
    let old = sluice_governance::NewToken::generate(
        "old",
        sluice_governance::Grants(vec![sluice_governance::Grant::parse("admin").unwrap()]),
        now - chrono::Duration::days(2),
        Some(now - chrono::Duration::days(1)),
    )
    .unwrap();
    f.api.state.engine.store().create_token(&old.record).await.unwrap();
    let expired = call(&f.api, "GET", "/api/v1/flows", "", Some(&old.token)).await;
    let detail = expired.problem(401)["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.starts_with("token `old` expired at ") && detail.ends_with("`sluice token create`"),
        "{detail}"
    );

    let bad =
        call(&f.api, "POST", "/api/v1/tokens", r#"{"name": "x", "grants": ["boss:acme"]}"#, Some(&f.root))
            .await;
    assert_eq!(
        bad.problem(400)["detail"],
        "grants: unknown role `boss`: use one of viewer, runner, editor, admin"
    );
    let taken =
        call(&f.api, "POST", "/api/v1/tokens", r#"{"name": "root", "grants": ["viewer"]}"#, Some(&f.root))
            .await;
    assert!(
        taken.problem(409)["detail"].as_str().unwrap().starts_with("a token named `root` exists already")
    );
    let listed = call(&f.api, "GET", "/api/v1/tokens", "", Some(&f.root)).await.json();
    let names: Vec<(&str, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["revokedAt"].is_null()))
        .collect();
    // Oldest first: `old` was made two days ago.
    assert_eq!(names, [("old", true), ("root", true), ("ci", false)]);
    assert!(!listed.to_string().contains(&old.record.hash), "no hash in the list");
}

#[tokio::test]
async fn a_token_sees_only_the_namespaces_it_holds() {
    let f = fixture().await;
    let viewer = make_token(&f.api, Some(&f.root), "other-viewer", &["viewer:other"]).await;
    let flows = call(&f.api, "GET", "/api/v1/flows", "", Some(&viewer)).await.json();
    let namespaces: Vec<&str> =
        flows.as_array().unwrap().iter().map(|f| f["namespace"].as_str().unwrap()).collect();
    assert_eq!(namespaces, ["other"]);
    let executions = call(&f.api, "GET", "/api/v1/executions", "", Some(&viewer)).await.json();
    let ids: Vec<&str> =
        executions.as_array().unwrap().iter().map(|e| e["executionId"].as_str().unwrap()).collect();
    assert_eq!(ids, [f.other_execution.as_str()]);
    let asked = call(&f.api, "GET", "/api/v1/executions?namespace=team", "", Some(&viewer)).await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN);
    let read =
        call(&f.api, "GET", &format!("/api/v1/executions/{}", f.other_execution), "", Some(&viewer)).await;
    assert_eq!(read.status, StatusCode::OK);
}

#[tokio::test]
async fn the_ui_logs_in_with_a_cookie_that_scripts_cannot_read_nor_other_sites_send() {
    let f = fixture().await;
    let viewer = make_token(&f.api, Some(&f.root), "alice", &["viewer:team"]).await;
    let login = response(&f.api, login_request(&json!({"token": viewer}))).await;
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert_eq!(cookie, format!("sluice_token={viewer}; Path=/; HttpOnly; SameSite=Strict"));
    let with_cookie = |uri: String| {
        Request::get(uri)
            .header(header::COOKIE, format!("theme=dark; sluice_token={viewer}"))
            .body(Body::empty())
            .unwrap()
    };
    let read = f.api.send(with_cookie(format!("/api/v1/executions/{}", f.team_execution))).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    let other = f.api.send(with_cookie(format!("/api/v1/executions/{}", f.other_execution))).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let me = f.api.send(with_cookie("/api/v1/session".into())).await.json();
    assert_eq!(
        me,
        json!({"auth": true, "token": "alice", "grants": [{"role": "viewer", "namespace": "team"}]})
    );
    assert_eq!(
        f.api.get("/api/v1/session").await.json(),
        json!({"auth": true, "token": null, "grants": null})
    );

    let wrong = response(&f.api, login_request(&json!({"token": "sluice_x"}))).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    let logout = call(&f.api, "DELETE", "/api/v1/session", "", None).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn changes_and_actions_leave_chained_audit_entries_naming_their_actor() {
    let f = fixture().await;
    let editor = make_token(&f.api, Some(&f.root), "deployer", &["editor:team"]).await;
    let changed = team_flow().replace("Greets someone", "Greets anyone");
    let put = call(&f.api, "PUT", "/api/v1/flows/team/hello", &changed, Some(&editor)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let kill =
        call(&f.api, "POST", &format!("/api/v1/executions/{}/kill", f.team_execution), "", Some(&editor))
            .await;
    assert_eq!(kill.status, StatusCode::CONFLICT, "it ended already: nothing to record");
    let started = call(&f.api, "POST", "/api/v1/executions/team/hello", "", Some(&editor)).await;
    let started_id = started.json()["executionId"].as_str().unwrap().to_owned();

    let entries = call(&f.api, "GET", "/api/v1/audit?actor=token:deployer", "", Some(&f.root)).await.json();
    let actions: Vec<(&str, &str)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    let started_target = format!("execution:{started_id}");
    assert_eq!(actions, [("flow.update", "flow:team.hello"), ("execution.start", started_target.as_str())]);
    assert_eq!(entries[0]["details"], json!({"revision": {"before": 1, "after": 2}}));

    // Everything before: the open server's changes, then the tokens root made.
    let all = call(&f.api, "GET", "/api/v1/audit", "", Some(&f.root)).await.json();
    let all: Vec<(&str, &str)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        all[..6],
        [
            ("open", "flow.create"),
            ("open", "flow.create"),
            ("open", "execution.start"),
            ("open", "execution.start"),
            ("open", "token.create"),
            ("token:root", "token.create"),
        ]
    );
    let kinds = call(&f.api, "GET", "/api/v1/audit?action=flow.", "", Some(&f.root)).await.json();
    assert_eq!(kinds.as_array().unwrap().len(), 3);
    let stored = f.api.state.engine.store().audit_entries(&AuditFilter::default()).await.unwrap();
    audit::verify(&stored).unwrap();
    let viewer = make_token(&f.api, Some(&f.root), "v", &["viewer"]).await;
    assert_eq!(call(&f.api, "GET", "/api/v1/audit", "", Some(&viewer)).await.status, StatusCode::FORBIDDEN);
}
